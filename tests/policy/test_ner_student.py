"""The NER model's student (apps/policy/detectors/data/
rampart-student-v1.*, bench/ner_student.py): its weights match their
provenance and fit only the graph they were trained from, the derived graph
finds what the six layers find, and the six layers run whenever the student
cannot."""

import json
import logging
import shutil

import numpy as np
import pytest
from django.core.management import call_command

from apps.policy.detectors import ner, ner_graph
from tests.policy.test_ner import NOT_PEOPLE, PEOPLE, STREETS
from tests.policy.test_ner_graph import NOT_NAMES, shipped_graph, wait_for

pytestmark = pytest.mark.skipif(
    not (ner.installed() and ner_graph.can_derive()), reason="needs the ner extra (with onnx)"
)


@pytest.fixture(scope="module")
def graphs_dir(tmp_path_factory):
    """Both derived graphs, the six layers' and the student's."""
    directory = tmp_path_factory.mktemp("ner-student")
    ner.derived_graph(directory)
    ner.student_graph(directory)
    return directory


def model(cache_dir, *, student=True):
    return ner._Model(ner._model_directory(), cache_dir, student=student)


def shipped_student(tmp_path):
    """A copy of the shipped weights and provenance, to damage."""
    for suffix in (".npz", ".json"):
        shutil.copy(ner_graph.STUDENT.with_suffix(suffix), tmp_path / f"s{suffix}")
    return tmp_path / "s.npz"


def test_the_shipped_weights_match_their_provenance_and_the_installed_model():
    record = json.loads(ner_graph.STUDENT.with_suffix(".json").read_text())
    learner = ner_graph.student()
    assert learner is not None
    assert record["sha256"] == ner_graph.sha256(ner_graph.STUDENT)
    assert (
        learner.layers
        == record["layers"]
        < ner._config(ner._model_directory())["num_hidden_layers"]
    )
    assert learner.fits(ner_graph.sha256(shipped_graph()))
    assert "CC BY 4.0" in record["licence"]
    assert record["trained_by"].startswith("bench/ner_student.py")


def test_the_weights_are_the_first_layers_and_the_classifier_in_int8(tmp_path):
    learner = ner_graph.student()
    arrays = learner.arrays()
    layers = {name.split(".")[3] for name in arrays if name.startswith("bert.encoder.layer.")}
    assert layers == {str(i) for i in range(learner.layers)}
    assert arrays["classifier.weight"].shape == (384, 35)
    assert not any(name.startswith("bert.embeddings") for name in arrays)  # the shipped ones
    with np.load(ner_graph.STUDENT) as stored:
        assert stored["classifier.weight.q"].dtype == np.int8


def covered(entities):
    """The characters each kind of finding covers: what redaction replaces."""
    return {kind: {i for start, end in spans for i in range(start, end)}
            for kind, spans in entities.items()}  # fmt: skip


def test_the_student_covers_what_the_six_layers_cover(graphs_dir):
    """Every character the six layers would redact, the student redacts too;
    on text without people or addresses it finds no more than they do. (On
    "My neighbour Olga Ivanova …" it takes "neighbour" into the name.)"""
    six, fewer = model(graphs_dir, student=False), model(graphs_dir)
    assert fewer.student and six.derived and not six.student
    for text in [text for text, _ in PEOPLE + STREETS]:
        theirs, ours = covered(six.entities(text)), covered(fewer.entities(text))
        assert all(theirs[kind] <= ours[kind] for kind in theirs), text
    for text in NOT_NAMES + NOT_PEOPLE:
        assert covered(fewer.entities(text)) == covered(six.entities(text)), text


def test_the_derived_graph_names_the_student_and_its_source(graphs_dir):
    learner = ner_graph.student()
    graph = ner_graph.cached(shipped_graph(), graphs_dir, learner)
    assert graph is not None and graph.name.startswith(f"rampart-student{learner.layers}-")
    record = json.loads(graph.with_suffix(".json").read_text())
    assert record["student_sha256"] == learner.sha256
    assert record["source_sha256"] == ner_graph.sha256(shipped_graph())
    assert record["method"] == learner.method
    assert f"layer {learner.layers}'s output" in record["method"]
    assert record["probe_agreement"] >= ner_graph.AGREEMENT
    assert record["sha256"] == ner_graph.sha256(graph)


def test_damaged_weights_are_not_used(tmp_path, caplog):
    weights = shipped_student(tmp_path)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert ner_graph.student(weights) is None
    assert "does not match its provenance" in caplog.text


def test_a_student_of_another_model_is_refused_and_six_layers_run(
    graphs_dir, tmp_path, monkeypatch, caplog
):
    weights = shipped_student(tmp_path)
    provenance = weights.with_suffix(".json")
    record = json.loads(provenance.read_text())
    provenance.write_text(json.dumps({**record, "teacher_sha256": "0" * 64}))
    stranger = ner_graph.Student(weights)
    with pytest.raises(ValueError, match="trained from another NER graph"):
        ner_graph.derive(shipped_graph(), tmp_path, heads=12, hidden=384, learner=stranger)
    monkeypatch.setattr(ner_graph, "STUDENT", weights)
    with caplog.at_level(logging.WARNING):
        loaded = model(graphs_dir)
    assert loaded.derived and not loaded.student
    assert "trained from another graph" in caplog.text


def test_without_the_student_file_six_layers_run(graphs_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(ner_graph, "STUDENT", tmp_path / "missing.npz")
    loaded = model(graphs_dir)
    assert loaded.derived and not loaded.student and not loaded.wants_derivation


def test_weights_without_a_place_in_the_graph_are_refused():
    import onnx

    source = ner_graph._dequantised(onnx.load(str(shipped_graph())))
    weights = ner_graph.student().arrays()
    with pytest.raises(ValueError, match="no place in the graph"):
        ner_graph.with_layers(source, 4, {**weights, "bert.encoder.layer.9.output.dense.bias": 0})
    wrong = {**weights, "classifier.bias": np.zeros(7, np.float32)}
    with pytest.raises(ValueError, match=r"classifier\.bias: shape"):
        ner_graph.with_layers(ner_graph._dequantised(onnx.load(str(shipped_graph()))), 4, wrong)


def test_the_setting_chooses_the_graph(graphs_dir, monkeypatch):
    monkeypatch.setattr(ner_graph, "derive_apart", pytest.fail)  # both are there already
    monkeypatch.setattr(ner, "_cache_dir", graphs_dir)
    monkeypatch.setattr(ner, "_model_failed", False)
    for student in (True, False):
        monkeypatch.setattr(ner, "_student", student)
        monkeypatch.setattr(ner, "_model", None)
        loaded = ner.load_model()
        assert loaded is not None and loaded.derived and loaded.student == student


def test_the_management_command_derives_the_student_too(graphs_dir, settings, capsys):
    settings.HYBRIDHUB_NER_CACHE_DIR = graphs_dir
    settings.HYBRIDHUB_NER_STUDENT = True
    call_command("ner_derive")
    out = capsys.readouterr().out
    assert "rampart-student" in out and "rampart-int8-" in out


def test_a_child_process_derives_the_same_student_graph(graphs_dir, tmp_path):
    """What the first load runs in the background when the student is asked for."""
    learner = ner_graph.student()
    graph = ner_graph.derive_apart(shipped_graph(), tmp_path, heads=12, hidden=384, learner=learner)
    earlier = ner_graph.cached(shipped_graph(), graphs_dir, learner)
    assert graph == ner_graph.cached(shipped_graph(), tmp_path, learner)
    assert earlier is not None and ner_graph.sha256(graph) == ner_graph.sha256(earlier)


def test_the_first_load_runs_six_layers_until_the_student_is_derived(
    graphs_dir, tmp_path, monkeypatch
):
    for file in graphs_dir.glob("rampart-int8-*"):  # only the six layers' graph is there
        shutil.copy(file, tmp_path / file.name)
    asked = []

    def derive_apart(source, directory, *, heads, hidden, learner=None):  # the child, faked
        asked.append(learner)
        for file in graphs_dir.glob("rampart-student*"):
            shutil.copy(file, directory / file.name)
        return ner_graph.cached(source, directory, learner)

    monkeypatch.setattr(ner_graph, "derive_apart", derive_apart)
    monkeypatch.setattr(ner, "_cache_dir", tmp_path)
    monkeypatch.setattr(ner, "_student", True)
    monkeypatch.setattr(ner, "_model", None)
    monkeypatch.setattr(ner, "_model_failed", False)
    loaded = ner.load_model()
    assert loaded is not None and loaded.derived
    assert wait_for(lambda: loaded.student)
    assert [learner.sha256 for learner in asked] == [ner_graph.student().sha256]
