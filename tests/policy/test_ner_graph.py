"""The NER model's int8 graph, derived on this machine from the shipped 4-bit
one (apps/policy/detectors/ner_graph.py): the same findings, its provenance,
and the shipped graph whenever the derived one is missing, corrupt or fails."""

import json
import logging
import shutil
import time

import pytest
from django.core.management import CommandError, call_command

from apps.policy.detectors import ner, ner_graph
from tests.policy.test_ner import PEOPLE, STREETS

needs_onnx = pytest.mark.skipif(
    not (ner.installed() and ner_graph.can_derive()), reason="needs the ner extra (with onnx)"
)
pytestmark = needs_onnx

NOT_NAMES = [
    "The new iPhone and the Galaxy Watch both support Apple Pay now.",
    "Run kubectl get pods -n kube-system and check the CoreDNS logs.",
    "Paris is lovely in spring, and Baker Street has a museum.",
    "Revenue 4 594 in Q3, up from 4 120; churn 2.1 % (INV-2231, PO 7781).",
]


@pytest.fixture(scope="module")
def derived_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ner-graph")
    ner.derived_graph(directory)
    return directory


@pytest.fixture
def fresh_model(monkeypatch):
    """load_model() loads anew, and leaves the process's model as it was."""
    monkeypatch.setattr(ner, "_model", None)
    monkeypatch.setattr(ner, "_model_failed", False)
    monkeypatch.setattr(ner, "_student", False)  # the six layers' graph: test_ner_student.py


def shipped_graph():
    return ner._model_directory() / "onnx" / "model_q4.onnx"


def model(cache_dir=None):
    return ner._Model(ner._model_directory(), cache_dir)


def test_the_derived_graph_finds_what_the_shipped_one_finds(derived_dir):
    shipped, derived = model(), model(derived_dir)
    assert derived.derived and not shipped.derived
    for text in [text for text, _ in PEOPLE + STREETS] + NOT_NAMES:
        assert derived.entities(text) == shipped.entities(text), text


def test_the_provenance_names_the_source_and_the_method(derived_dir):
    graph = ner_graph.cached(shipped_graph(), derived_dir)
    assert graph is not None
    record = json.loads(graph.with_suffix(".json").read_text())
    assert record["source_sha256"] == ner_graph.sha256(shipped_graph())
    assert record["sha256"] == ner_graph.sha256(graph)
    assert record["method"] == ner_graph.METHOD
    assert record["probe_agreement"] >= ner_graph.AGREEMENT


def test_without_a_derived_graph_the_shipped_one_runs(tmp_path):
    assert not model(tmp_path).derived
    assert not model(None).derived


def copy_of(derived_dir, tmp_path):
    for file in derived_dir.iterdir():
        shutil.copy(file, tmp_path / file.name)
    return next(tmp_path.glob("*.onnx"))


def test_a_derived_graph_changed_after_deriving_is_not_used(derived_dir, tmp_path, caplog):
    graph = copy_of(derived_dir, tmp_path)
    with graph.open("r+b") as file:
        file.seek(4096)
        file.write(b"\0" * 64)
    with caplog.at_level(logging.WARNING):
        assert not model(tmp_path).derived
    assert "does not match its provenance" in caplog.text


def test_a_derived_graph_that_does_not_load_leaves_the_shipped_one(derived_dir, tmp_path, caplog):
    graph = copy_of(derived_dir, tmp_path)
    graph.write_bytes(b"not an onnx graph")  # and a provenance that vouches for it
    provenance = graph.with_suffix(".json")
    record = json.loads(provenance.read_text())
    provenance.write_text(json.dumps({**record, "sha256": ner_graph.sha256(graph)}))
    with caplog.at_level(logging.WARNING):
        loaded = model(tmp_path)
    assert not loaded.derived
    assert "does not load" in caplog.text
    assert loaded.entities(PEOPLE[0][0])["person"]


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_the_first_load_derives_in_the_background_and_switches(
    derived_dir, tmp_path, monkeypatch, fresh_model
):
    calls = []

    def derive_apart(source, directory, *, heads, hidden, learner=None):  # the child process, faked
        calls.append((source, directory, heads, hidden))
        return copy_of(derived_dir, directory)

    monkeypatch.setattr(ner_graph, "derive_apart", derive_apart)
    monkeypatch.setattr(ner, "_cache_dir", tmp_path)
    loaded = ner.load_model()
    assert loaded is not None
    assert wait_for(lambda: loaded.derived)
    assert calls == [(shipped_graph(), tmp_path, 12, 384)]
    assert loaded.graph.parent == tmp_path


def test_a_failed_derivation_keeps_the_shipped_graph(tmp_path, monkeypatch, fresh_model, caplog):
    def derive_apart(source, directory, *, heads, hidden, learner=None):
        raise ValueError("deriving failed (1): no space left on device")

    monkeypatch.setattr(ner_graph, "derive_apart", derive_apart)
    monkeypatch.setattr(ner, "_cache_dir", tmp_path)
    with caplog.at_level(logging.WARNING):
        loaded = ner.load_model()
        assert wait_for(lambda: "could not derive" in caplog.text)
    assert loaded is not None and not loaded.derived


def test_without_a_cache_directory_nothing_is_derived(monkeypatch, fresh_model):
    monkeypatch.setattr(ner, "_cache_dir", None)
    monkeypatch.setattr(ner_graph, "derive_apart", pytest.fail)
    loaded = ner.load_model()
    assert loaded is not None and not loaded.derived


def test_a_graph_that_labels_differently_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ner_graph, "_agreement", lambda shipped, derived: 0.5)
    with pytest.raises(ValueError, match=r"agrees with the shipped one on 50\.0%"):
        ner_graph.derive(shipped_graph(), tmp_path, heads=12, hidden=384)
    assert ner_graph.cached(shipped_graph(), tmp_path) is None
    assert not list(tmp_path.glob("*.onnx"))


def test_the_management_command_derives_into_the_cache_directory(derived_dir, settings, capsys):
    settings.HYBRIDHUB_NER_CACHE_DIR = derived_dir
    call_command("ner_derive")
    assert str(ner_graph.cached(shipped_graph(), derived_dir)) in capsys.readouterr().out
    settings.HYBRIDHUB_NER_CACHE_DIR = None
    with pytest.raises(CommandError, match="HYBRIDHUB_NER_CACHE_DIR is empty"):
        call_command("ner_derive")


def test_make_run_derives_only_where_the_model_is_on(
    derived_dir, tmp_path, settings, capsys, monkeypatch
):
    """`ner_derive --if-enabled` (make run): the graph where the model tier
    is on, nothing and no error where it is off."""
    settings.HYBRIDHUB_NER_STUDENT = False
    monkeypatch.setattr(ner, "active", lambda: False)
    settings.HYBRIDHUB_NER_CACHE_DIR = tmp_path
    call_command("ner_derive", "--if-enabled")
    assert capsys.readouterr().out == "" and not list(tmp_path.iterdir())
    monkeypatch.setattr(ner, "active", lambda: True)
    settings.HYBRIDHUB_NER_CACHE_DIR = derived_dir  # derived already by the fixture
    call_command("ner_derive", "--if-enabled")
    out = capsys.readouterr().out
    assert out.strip() == str(ner_graph.cached(shipped_graph(), derived_dir))


def test_a_child_process_derives_the_same_graph(derived_dir, tmp_path):
    """What the first load runs in the background: ``python -m`` this module."""
    graph = ner_graph.derive_apart(shipped_graph(), tmp_path, heads=12, hidden=384)
    earlier = ner_graph.cached(shipped_graph(), derived_dir)
    assert graph == ner_graph.cached(shipped_graph(), tmp_path)
    assert earlier is not None and ner_graph.sha256(graph) == ner_graph.sha256(earlier)
