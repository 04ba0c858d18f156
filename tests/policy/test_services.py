"""Draft → validate → publish, rollback and the audit trail."""

import pytest
from django.core.exceptions import ValidationError

from apps.policy.document import RulePolicy
from apps.policy.models import PolicyAuditEntry, PolicyVersion
from apps.policy.services import (
    document_json,
    document_parse,
    policy_draft_discard,
    policy_draft_edit,
    policy_draft_get,
    policy_publish,
    policy_published_get,
    policy_rollback,
)

pytestmark = pytest.mark.django_db


def add_rule(rule):
    def change(data):
        doc = document_parse(data)
        return document_json(doc.model_copy(update={"rules": (rule, *doc.rules)}))

    return change


def test_a_fresh_install_publishes_the_shipped_local_first_policy():
    published = policy_published_get()
    assert (published.number, published.status) == (1, "published")
    assert [r["id"] for r in published.document["rules"]] == ["sensitive", "complex", "default"]


def test_edit_validate_publish_and_audit(admin_user, local_model):
    rule = RulePolicy(id="legal1", name="Legal to deep model", models=("tiny",))
    draft = policy_draft_edit(actor=admin_user, summary="Add legal rule", change=add_rule(rule))
    assert draft.status == "draft" and draft.number == 2
    assert policy_published_get().number == 1  # nothing live changes before publishing

    live = policy_publish(actor=admin_user, note="legal routing")
    assert (live.number, live.status, live.published_by) == (2, "published", admin_user)
    assert PolicyVersion.objects.get(number=1).status == "retired"
    actions = list(PolicyAuditEntry.objects.order_by("pk").values_list("action", "summary"))
    assert actions == [("edit", "Add legal rule"), ("publish", "Published v2")]
    edit = PolicyAuditEntry.objects.get(action="edit")
    assert '+      "name": "Legal to deep model",' in edit.diff
    assert edit.actor == admin_user


def test_invalid_edits_are_refused_and_nothing_is_saved(admin_user):
    def break_default(data):
        data["rules"][-1]["when"] = {"min_level": 2}
        return data

    with pytest.raises(ValidationError) as caught:
        policy_draft_edit(actor=admin_user, summary="oops", change=break_default)
    assert "default" in " ".join(caught.value.messages)
    assert not PolicyAuditEntry.objects.exists()
    assert not PolicyVersion.objects.filter(status="draft").exists()  # all or nothing


def test_publishing_refuses_rules_naming_unknown_models(admin_user):
    rule = RulePolicy(id="ghost1", name="Ghost", models=("no-such-model",))
    policy_draft_edit(actor=admin_user, summary="ghost", change=add_rule(rule))
    with pytest.raises(ValidationError, match="no enabled model named 'no-such-model'"):
        policy_publish(actor=admin_user)
    assert policy_published_get().number == 1


def test_rollback_republishes_an_old_version_as_a_new_one(admin_user, local_model):
    original = policy_published_get().document
    rule = RulePolicy(id="r2d2", name="New", models=("tiny",))
    policy_draft_edit(actor=admin_user, summary="new rule", change=add_rule(rule))
    policy_publish(actor=admin_user)
    restored = policy_rollback(actor=admin_user, number=1)
    assert (restored.number, restored.status) == (3, "published")
    assert restored.document == original
    assert list(PolicyVersion.objects.order_by("number").values_list("status", flat=True)) == [
        "retired", "retired", "published",
    ]  # fmt: skip
    with pytest.raises(ValidationError, match="already live"):
        policy_rollback(actor=admin_user, number=3)
    draft = policy_draft_get(actor=admin_user)
    with pytest.raises(ValidationError, match="no published version"):
        policy_rollback(actor=admin_user, number=draft.number)


def test_one_draft_at_a_time_and_discard(admin_user):
    first = policy_draft_get(actor=admin_user)
    assert policy_draft_get(actor=admin_user).pk == first.pk
    policy_draft_discard(actor=admin_user)
    assert not PolicyVersion.objects.filter(status="draft").exists()
    assert PolicyAuditEntry.objects.get().action == "discard"
    with pytest.raises(ValidationError, match="no draft"):
        policy_publish(actor=admin_user)
