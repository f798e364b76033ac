"""The bad-input corpus: every mistake gets its own clear message; nothing saved changes.

Configs (``tests/corpus/config``, tests/test_config_check.py) and shared
lens profiles (``tests/corpus/lenses``, tests/test_lenses.py) have their own
corpora; web messages are refused in tests/test_web.py.  Here:

- simulator profiles (``tests/corpus/profiles``) and session scripts
  (``tests/corpus/scripts``): each file's first line is the message it must
  get (``# expect: LINE: KEY: MESSAGE``, after the file's path).  ``rig
  simulate`` refuses it with exit 2 before anything runs, and the state
  directory it was pointed at (a calibration and a sequence) is byte for
  byte what it was.
- saved sequence files (``tests/corpus/sequences``), damaged on disk: the
  store names the file and the key, falls back to the backup, and leaves the
  damaged file as it is.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from rig.calibration import parse_calibration
from rig.cli import main
from rig.sequencer import Point
from rig.sim import DEFAULT_PROFILE
from rig.store import Store, backup_path

CORPUS = Path(__file__).parent / "corpus"
PROFILES = sorted((CORPUS / "profiles").glob("*.toml"))
SCRIPTS = sorted((CORPUS / "scripts").glob("*.rig"))
SEQUENCES = CORPUS / "sequences"
DEMO = Path(__file__).resolve().parent.parent / "rig" / "data" / "demo.rig"

SEQUENCE_ERRORS = {
    "a-list.json": ": must be an object {version, lens, points}, got a list",
    "cut-short.json": ":1: not valid JSON: Expecting value",
    "duration-negative.json": ": points[0].duration: must be a number of seconds 0..3600, "
                              "got -1",
    "duration-text.json": ": points[0].duration: must be a number of seconds 0..3600, "
                          "got '2s'",
    "duration-too-long.json": ": points[0].duration: must be a number of seconds 0..3600, "
                              "got 4000",
    "easing-unknown.json": ": points[0].easing: must be one of linear, ease, got 'bounce'",
    "empty.json": ": is empty (a JSON file was expected)",
    "no-points.json": ": points: missing; must be a list of points",
    "not-text.json": ": not a UTF-8 text file",
    "point-a-number.json": ": points[0]: must be an object {position, duration}",
    "points-a-number.json": ": points: must be a list of points, got 3",
    "position-fraction.json": ": points[0].position: must be a whole number >= 0, got 12.5",
    "position-missing.json": ": points[0].position: missing; must be a whole number >= 0",
    "position-negative.json": ": points[0].position: must be a whole number >= 0, got -4",
    "position-true.json": ": points[0].position: must be a whole number >= 0, got True",
    "trailing-comma.json": ":1: not valid JSON: Expecting property name enclosed in double "
                           "quotes",
}


def expectation(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def message(path: Path, expected: str) -> str:
    """The whole message: the path, then ':LINE: ...' or ': ...' (no line to name)."""
    return f"{path}:{expected}" if expected[:1].isdigit() else f"{path}: {expected}"


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A state directory as an operator leaves it: a calibration and a sequence (with backup)."""
    root = tmp_path_factory.mktemp("saved") / "state"
    store = Store(root)
    good = json.loads((CORPUS / "lenses" / "good.json").read_text())
    store.save_calibration(parse_calibration(good, "good.json"))
    store.save_sequence((Point(120), Point(300, 2.5)), "L")
    store.save_sequence((Point(120), Point(300, 2.5), Point(40, 1.0, "ease")), "L")
    return root


@pytest.fixture
def state(saved, tmp_path):
    root = tmp_path / "state"
    shutil.copytree(saved, root)
    return root


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_each_corpus_has_its_entries_and_each_its_own_message():
    for corpus, least in ((PROFILES, 15), (SCRIPTS, 12)):
        assert len(corpus) >= least
        messages = [expectation(p) for p in corpus]
        assert len(set(messages)) == len(messages)
    on_disk = {p.name for p in SEQUENCES.glob("*.json")} - {"good.json"}
    assert on_disk == set(SEQUENCE_ERRORS)
    assert len(set(SEQUENCE_ERRORS.values())) == len(SEQUENCE_ERRORS)


def refused(camera: str, script: Path, bad: Path, state: Path, tmp_path: Path,
            capsys) -> None:
    """``rig simulate`` refuses ``bad`` with its message, exit 2, and changes nothing."""
    before = snapshot(state)
    assert main(["simulate", "--camera", camera, "--script", str(script),
                 "--report", str(tmp_path / "report.json"), "--state-dir", str(state)]) == 2
    out, err = capsys.readouterr()
    assert err == f"rig: error: {message(bad, expectation(bad))}\n"
    assert snapshot(state) == before
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_each_bad_profile_is_refused_and_nothing_saved_changes(path, state, tmp_path, capsys):
    refused(f"sim:{path}", DEMO, path, state, tmp_path, capsys)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_each_bad_script_is_refused_and_nothing_saved_changes(path, state, tmp_path, capsys):
    refused(f"sim:{DEFAULT_PROFILE}", path, path, state, tmp_path, capsys)


@pytest.mark.parametrize("name", sorted(SEQUENCE_ERRORS))
def test_each_damaged_sequence_is_named_and_the_backup_used(name, state):
    path = Store(state).sequence_path
    path.write_bytes((SEQUENCES / name).read_bytes())
    damaged = snapshot(state)
    store = Store(state)
    assert store.load_sequence() == (Point(120), Point(300, 2.5))   # the backup
    assert store.problems == [f"{path}{SEQUENCE_ERRORS[name]}; using the backup "
                              "sequence.json.bak"]
    assert snapshot(state) == damaged                # loading changes nothing on disk


def test_a_damaged_sequence_without_a_backup_starts_empty_and_says_so(state):
    store = Store(state)
    backup_path(store.sequence_path).unlink()
    store.sequence_path.write_bytes((SEQUENCES / "cut-short.json").read_bytes())
    assert store.load_sequence() == ()
    assert store.problems == [f"{store.sequence_path}:1: not valid JSON: Expecting value; "
                              "nothing usable: starting without it (the file is kept)"]
    assert store.sequence_path.read_bytes() == (SEQUENCES / "cut-short.json").read_bytes()


def test_the_good_sequence_in_the_corpus_loads():
    from rig.store import _read_sequence
    assert _read_sequence(SEQUENCES / "good.json") == (Point(120), Point(300, 2.5, "ease"))


def test_the_rig_starts_on_the_backup_and_says_so(state, calibrations):
    """On the rig: the backup's points, and a few words on the OLED."""
    from rig.app import App, load_state
    from rig.clock import VirtualClock
    from rig.config import load_config
    from rig.display import screen_text
    from rig.sim import SimBody, load_profile

    calibrations.state_dir(DEFAULT_PROFILE, state)          # the lens is known
    store = Store(state)
    store.sequence_path.write_bytes((SEQUENCES / "cut-short.json").read_bytes())
    clock = VirtualClock()
    body = SimBody(load_profile(DEFAULT_PROFILE), clock)
    app = App(clock, body.session, store, state=load_state(store, load_config().ui))
    app.start()
    try:
        assert app.wait_idle(until=clock.now() + 3600)   # booted, homed, on point 1
        assert [p.position for p in app.state.points] == [120, 300]
        # The notice is on the screen now, not under the boot screens where
        # nobody could read it.
        assert "restored from backup" in " ".join(screen_text(app.view()))
        assert store.sequence_path.read_bytes() == (SEQUENCES / "cut-short.json").read_bytes()
    finally:
        app.stop()
