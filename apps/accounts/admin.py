from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from .models import ApiKey, Membership, Team
from .services import api_key_create, api_key_revoke, api_keys_with_membership


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "team", "scope", "expires_at", "rpm_limit", "tpm_limit",
                  "strict_model"]  # fmt: skip

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["scope"].required = False  # empty: completions only

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or ApiKey.Scope.INFERENCE

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        user, team = data.get("user"), data.get("team")
        if user and team and not Membership.objects.filter(user=user, team=team).exists():
            raise forms.ValidationError(f"{user} is not a member of {team}.")
        return data


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created (the secret shown once, on a page that is not cached)
    and revoked here; a revocation is never undone, so ``revoked_at`` is
    read-only and the only way to set it is the revoke action."""

    list_display = [
        "name", "prefix", "user", "team", "member", "created_at", "last_used_at", "revoked_at",
    ]  # fmt: skip
    list_filter = ["team", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "team", "scope", "expires_at", "rpm_limit", "tpm_limit",
              "strict_model", "prefix", "created_at", "last_used_at", "revoked_at"]  # fmt: skip
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    form = ApiKeyForm

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return api_keys_with_membership().select_related("user", "team")

    @admin.display(boolean=True, description="Still in team")
    def member(self, obj: ApiKey) -> bool:
        # A key stops working when its owner leaves the team (see api_key_authenticate).
        return bool(getattr(obj, "is_member", True))

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # The owner and team of an existing key never change.
        extra = ["user", "team"] if obj else []
        return [*self.readonly_fields, *extra]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_key_create(
            user=obj.user, team=obj.team, name=obj.name, scope=obj.scope,
            expires_at=obj.expires_at, rpm_limit=obj.rpm_limit, tpm_limit=obj.tpm_limit,
            strict_model=obj.strict_model,
        )  # fmt: skip
        obj.pk, obj.prefix = issued.api_key.pk, issued.api_key.prefix
        # Kept on this request only, for response_add: never in the messages
        # cookie or the session, where anyone who sees the cookie could read it.
        request._issued_secret = issued.secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):  # type: ignore[no-untyped-def]
        secret = getattr(request, "_issued_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "secret": secret,
            "title": "Copy the new API key",
        }
        response: HttpResponse = TemplateResponse(
            request, "admin/accounts/apikey/issued.html", context
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
