"""``rig lenses``: list, export and import lens profiles; bad files change nothing.

``tests/corpus/lenses`` holds one good profile someone might share and files
that go wrong in every way we could think of; each bad one must be refused
with its own message naming the file and the key, and leave the state
directory byte for byte as it was.
"""

import json
from pathlib import Path

import pytest

from rig.calibration import parse_calibration
from rig.cli import main
from rig.store import Store

CORPUS = Path(__file__).parent / "corpus" / "lenses"
GOOD = CORPUS / "good.json"

# What each bad file gets after "rig: error: FILE".
BAD = {
    "a-list.json": ": must be a JSON object with lens, steps and drive",
    "a-sequence.json": ": is not a lens profile: it has no steps and no drive",
    "camera-a-number.json": ": camera: must be a string, got 5",
    "camera-empty.json": ": camera: empty: a shared profile must name the camera that "
                         "measured it (rig keeps one per camera and lens)",
    "no-camera.json": ": camera: missing: a shared profile must name the camera that "
                      "measured it (rig keeps one per camera and lens)",
    "cut-short.json": ":13: not valid JSON: Unterminated string starting at",
    "trailing-comma.json": ":3: not valid JSON: Expecting property name enclosed in "
                           "double quotes",
    "not-json.json": ":1: not valid JSON: Expecting value",
    "empty.json": ": is empty (a JSON file was expected)",
    "not-text.json": ": not a UTF-8 text file",
    "drive-an-object.json": ": drive: must be a list of {size, steps, speed}, got dict",
    "drive-empty.json": ": drive: must list at least one {size, steps, speed}",
    "drive-item-a-number.json": ": drive[0]: must be an object {size, steps, speed}",
    "drive-jitter-negative.json": ": drive[0].jitter: must be >= 0, got -0.5",
    "drive-move-longer-than-period.json": ": drive[2].move_s: must not exceed steps / speed "
                                          "(0.2737 s), got 1.0",
    "drive-no-unit-step.json": ": drive: one drive size must move 1 step (the unit of "
                               "position)",
    "drive-size-fraction.json": ": drive[1].size: must be a whole number, got 2.5",
    "drive-size-twelve.json": ": drive[2].size: must be <= 7, got 12",
    "drive-size-zero.json": ": drive[0].size: must be > 0, got 0",
    "drive-sizes-repeat.json": ": drive: sizes repeat: [1, 2, 2]",
    "drive-speed-absurd.json": ": drive[2].speed: must be <= 100000, got 1000000000.0",
    "drive-speed-missing.json": ": drive[1].speed: missing",
    "drive-speed-negative.json": ": drive[1].speed: must be > 0, got -50.0",
    "drive-step-beyond-range.json": ": drive[2].steps: must be <= 520, got 600.0",
    "speed-infinity.json": ": drive[2].speed: must be a number, got inf",
    "focalposition-linear-as-text.json": ": focalposition_linear: must be true or false, "
                                         "got 'no'",
    "latency-absurd.json": ": latency_ms: must be <= 5000, got 90000",
    "latency-negative.json": ": latency_ms: must be >= 0, got -1",
    "lens-empty.json": ": lens: must be a non-empty string, got ''",
    "lens-too-long.json": ": lens: must be at most 200 characters, got 300",
    "lens-two-lines.json": ": lens: must be one line of plain text, got 'EF 50mm\\nf/1.8'",
    "no-drive.json": ": drive: missing",
    "min-focus-in-feet.json": ": min_focus_m: must be the lens's closest focusing distance "
                              "in metres, 0.01 to 20, got 35",
    "no-lens.json": ": lens: missing",
    "no-steps.json": ": steps: missing",
    "steps-as-text.json": ": steps: must be a number, got '520'",
    "steps-fraction.json": ": steps: must be a whole number, got 520.5",
    "steps-nan.json": ": steps: must be a number, got nan",
    "steps-too-few.json": ": steps: must be at least 10 steps end to end, got 5",
    "steps-too-many.json": ": steps: must be <= 100000, got 10000000",
    "steps-true.json": ": steps: must be a number, got True",
    # The realistic lens (issue 13): steps at both stops, and the play.
    "drive-steps-far-negative.json": ": drive[1].steps_far: must be > 0, got -4.0",
    "drive-steps-near-as-text.json": ": drive[2].steps_near: must be a number, got '26'",
    "drive-steps-far-absurd.json": ": drive[1].steps_far: must be within 3x the drive's steps "
                                   "(4), got 40.0",
    "drive-steps-near-nan.json": ": drive[2].steps_near: must be a number, got nan",
    "backlash-negative.json": ": backlash: must be >= 0, got -1",
    "backlash-as-text.json": ": backlash: must be a number, got '2 steps'",
    "backlash-absurd.json": ": backlash: must be <= 260, got 400",
}

EF24 = {"lens": "Canon EF 24mm f/2.8 IS USM", "camera": "Canon EOS 5D Mark III", "steps": 407,
        "drive": [{"size": 1, "steps": 1.0, "speed": 23.496},
                  {"size": 2, "steps": 4.0, "speed": 48.733},
                  {"size": 3, "steps": 26.0, "speed": 94.321}]}
NIKKOR = {"lens": "AF-S NIKKOR 50mm f/1.8G", "camera": "D750", "steps": 1200,
          "drive": [{"size": 1, "steps": 1.0, "speed": 500.0},
                    {"size": 2, "steps": 4.0, "speed": 520.0},
                    {"size": 3, "steps": 26.0, "speed": 590.0}]}


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def state(tmp_path):
    """A state directory with two lenses, one of them stamped when measured."""
    store = Store(tmp_path / "state")
    store.save_calibration(parse_calibration(EF24), stamp=True)
    store.save_calibration(parse_calibration(NIKKOR))
    return tmp_path / "state"


def snapshot(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def lenses(state, *args):
    return main(["lenses", *args, "--state-dir", str(state)])


def flat(text: str) -> str:
    return " ".join(text.split())


def test_every_corpus_file_has_an_expectation_and_each_its_own_message():
    files = {p.name for p in CORPUS.glob("*.json")} - {GOOD.name}
    assert files == set(BAD) and len(BAD) >= 35
    assert len(set(BAD.values())) == len(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_refused_and_nothing_changes(state, name, capsys):
    before = snapshot(state)
    path = CORPUS / name
    assert lenses(state, "import", str(path)) == 2
    out, err = capsys.readouterr()
    assert err == f"rig: error: {path}{BAD[name]}\n" and out == ""
    assert snapshot(state) == before


def test_a_bad_file_is_refused_even_with_force(state, capsys):
    before = snapshot(state)
    assert lenses(state, "import", str(CORPUS / "steps-too-few.json"), "--force") == 2
    assert "steps: must be at least 10" in capsys.readouterr().err
    assert snapshot(state) == before


def test_list_groups_by_camera_with_range_sizes_and_date(state, capsys):
    assert lenses(state) == 0
    text = capsys.readouterr().out
    # The first line names the folder, wrapped to the terminal when its path is long.
    head, body = text.split("\nCanon EOS 5D Mark III\n")
    assert flat(head) == f"2 lens profiles in {state / 'lenses'}"
    out = body.splitlines()
    assert out[0] == "  Canon EF 24mm f/2.8 IS USM"
    assert out[1].startswith("    407 steps; sizes 1 / 4 / 26; 20")     # the date measured
    assert out[1].endswith("; focuses from 0.2 m")                   # rig's table of lenses
    assert out[2:] == ["D750", "  AF-S NIKKOR 50mm f/1.8G",
                       "    1200 steps; sizes 1 / 4 / 26; date unknown; focuses from 0.45 m"]
    assert lenses(state, "list") == 0
    assert capsys.readouterr().out == text


def test_list_fits_a_phone_terminal(state, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert lenses(state) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10          # the path and the date each go on a line of their own
    assert all(len(line) <= 40 or len(line.split()) == 1 for line in lines)   # a long path


def test_list_names_a_damaged_profile_and_exits_1(state, capsys):
    (state / "lenses" / "broken.json").write_text('{"lens": "X", "steps": 407}')
    assert lenses(state) == 1
    out, err = capsys.readouterr()
    assert out.startswith("2 lens profiles")
    assert flat(err) == f"damaged: {state / 'lenses' / 'broken.json'}: drive: missing"


def test_an_empty_state_directory_lists_none(tmp_path, capsys):
    assert lenses(tmp_path / "nothing") == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and flat(out) == f"0 lens profiles in {tmp_path / 'nothing' / 'lenses'}"


def test_import_adds_a_shared_profile_atomically(state, capsys):
    before = snapshot(state)
    assert lenses(state, "import", str(GOOD)) == 0
    out = flat(capsys.readouterr().out)
    path = state / "lenses" / "canon-eos-r6--canon-ef-50mm-f-1.8-stm.json"
    assert out.startswith("added Canon EOS R6 / Canon EF 50mm f/1.8 STM: 520 steps; "
                          "sizes 1 / 4 / 26; 2025-03-01; focuses from 0.35 m saved to "
                          + str(path))
    after = snapshot(state)
    assert {k: v for k, v in after.items() if k.name != path.name} == before
    assert json.loads(path.read_text()) == json.loads(GOOD.read_text())
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]   # no temp file
    assert Store(state).load_calibration("Canon EOS R6", "Canon EF 50mm f/1.8 STM").steps == 520


def test_importing_the_same_profile_again_changes_nothing(state, capsys):
    assert lenses(state, "import", str(GOOD)) == 0
    before = snapshot(state)
    capsys.readouterr()
    assert lenses(state, "import", str(GOOD)) == 0
    assert capsys.readouterr().out.startswith("already there, unchanged: Canon EOS R6")
    assert snapshot(state) == before


def test_other_numbers_for_a_lens_already_there_need_force(state, tmp_path, capsys):
    other = tmp_path / "ef24-from-a-friend.json"
    other.write_text(json.dumps({**EF24, "steps": 410}))
    before = snapshot(state)
    assert lenses(state, "import", str(other)) == 2
    saved = state / "lenses" / "canon-eos-5d-mark-iii--canon-ef-24mm-f-2.8-is-usm.json"
    assert capsys.readouterr().err == (
        f"rig: error: {other}: lens: this lens already has a profile with other numbers "
        f"(steps: 407 here, 410 in the file); --force replaces {saved}\n")
    assert snapshot(state) == before
    assert lenses(state, "import", str(other), "--force") == 0
    assert capsys.readouterr().out.startswith("replaced Canon EOS 5D Mark III / Canon EF 24mm")
    assert json.loads(saved.read_text())["steps"] == 410


def test_the_difference_named_can_be_a_drive_size(state, tmp_path, capsys):
    other = tmp_path / "ef24.json"
    changed = json.loads(json.dumps(EF24))
    changed["drive"][2]["steps"] = 27.0
    other.write_text(json.dumps(changed))
    assert lenses(state, "import", str(other)) == 2
    assert "(drive[2].steps: 26.0 here, 27.0 in the file)" in capsys.readouterr().err


def test_a_damaged_saved_profile_is_never_written_over(state, tmp_path, capsys):
    saved = state / "lenses" / "canon-eos-5d-mark-iii--canon-ef-24mm-f-2.8-is-usm.json"
    saved.write_text('{"lens": "Canon EF 24mm f/2.8 IS USM", "steps": 4')
    before = snapshot(state)
    good = tmp_path / "ef24.json"
    good.write_text(json.dumps(EF24))
    for extra in ([], ["--force"]):
        assert lenses(state, "import", str(good), *extra) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rig: error: {saved}: the saved profile for this lens cannot "
                              "be read (not valid JSON: ")
        assert err.endswith("rig never writes over it: move it away first\n")
    assert snapshot(state) == before


def test_export_then_import_elsewhere_gives_the_same_profile(state, tmp_path, capsys):
    shared = tmp_path / "shared" / "ef24.json"
    assert lenses(state, "export", "ef24", str(shared)) == 0
    assert flat(capsys.readouterr().out) == (
        f"exported Canon EOS 5D Mark III / Canon EF 24mm f/2.8 IS USM to {shared}")
    friend = tmp_path / "friend"
    assert lenses(friend, "import", str(shared)) == 0
    name = "canon-eos-5d-mark-iii--canon-ef-24mm-f-2.8-is-usm.json"
    assert (friend / "lenses" / name).read_bytes() == (state / "lenses" / name).read_bytes()
    assert "measured" in json.loads(shared.read_text())       # when it was measured travels


def test_export_selects_by_any_words_of_camera_and_lens(state, tmp_path, capsys):
    assert lenses(state, "export", "D750 nikkor", str(tmp_path / "a.json")) == 0
    assert json.loads((tmp_path / "a.json").read_text())["lens"] == "AF-S NIKKOR 50mm f/1.8G"
    capsys.readouterr()
    assert lenses(state, "export", "5d mark iii 24", "-") == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 407


def test_export_says_what_matched_when_it_is_not_one(state, tmp_path, capsys):
    assert lenses(state, "export", "50mm", str(tmp_path / "x.json")) == 0
    capsys.readouterr()
    assert lenses(state, "export", "canon", str(tmp_path / "y.json")) == 0
    capsys.readouterr()
    assert lenses(state, "export", "f/", str(tmp_path / "z.json")) == 2
    assert capsys.readouterr().err == (
        "rig: error: LENS: 'f/' matches 2 profiles: Canon EOS 5D Mark III / Canon EF 24mm "
        "f/2.8 IS USM; D750 / AF-S NIKKOR 50mm f/1.8G: say more\n")
    assert lenses(state, "export", "sigma", str(tmp_path / "z.json")) == 2
    assert capsys.readouterr().err.startswith("rig: error: LENS: no lens profile matches "
                                              "'sigma' (profiles: Canon EOS 5D Mark III / ")
    assert not (tmp_path / "z.json").exists()


def test_export_keeps_an_existing_file_unless_forced(state, tmp_path, capsys):
    dest = tmp_path / "mine.json"
    dest.write_text("my notes")
    assert lenses(state, "export", "ef24", str(dest)) == 2
    assert capsys.readouterr().err == f"rig: error: {dest}: already exists: --force replaces it\n"
    assert dest.read_text() == "my notes"
    assert lenses(state, "export", "ef24", str(dest), "--force") == 0
    assert json.loads(dest.read_text())["steps"] == 407


def test_set_the_closest_distance_of_a_lens_and_it_outlives_a_new_calibration(state, capsys):
    saved = state / "lenses" / "d750--af-s-nikkor-50mm-f-1.8g.json"
    before = json.loads(saved.read_text())
    assert lenses(state, "set", "nikkor", "--min-focus", "0.42") == 0
    assert flat(capsys.readouterr().out).startswith(
        "D750 / AF-S NIKKOR 50mm f/1.8G: closest focus 0.42 m (set for this lens)")
    assert json.loads(saved.read_text()) == {**before, "min_focus_m": 0.42}
    # A new calibration of the lens keeps what the operator set.
    cal = parse_calibration(before, "new")
    Store(state).save_calibration(cal)
    assert json.loads(saved.read_text())["min_focus_m"] == 0.42
    assert lenses(state, "set", "nikkor", "--min-focus", "auto") == 0
    assert "closest focus 0.45 m (rig's table of lenses)" in flat(capsys.readouterr().out)
    assert "min_focus_m" not in json.loads(saved.read_text())


def test_a_closest_distance_out_of_range_is_refused_and_nothing_changes(state, capsys):
    before = snapshot(state)
    with pytest.raises(SystemExit) as refused:
        lenses(state, "set", "nikkor", "--min-focus", "35")
    assert refused.value.code == 2
    assert "must be 0.01 to 20 metres, got 35" in capsys.readouterr().err
    assert snapshot(state) == before


def test_json_lists_every_profile_with_its_closest_distance(state, capsys):
    (state / "lenses" / "broken.json").write_text('{"lens": "X", "steps": 407}')
    assert lenses(state, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["dir"] == str(state / "lenses")
    assert [(p["camera"], p["lens"], p["steps"], p["min_focus_m"]) for p in data["profiles"]] \
        == [("Canon EOS 5D Mark III", "Canon EF 24mm f/2.8 IS USM", 407, 0.2),
            ("D750", "AF-S NIKKOR 50mm f/1.8G", 1200, 0.45)]
    assert data["damaged"] == [{"file": str(state / "lenses" / "broken.json"),
                                "error": f"{state / 'lenses' / 'broken.json'}: drive: missing"}]
    assert lenses(state, "list", "--json") == 1
