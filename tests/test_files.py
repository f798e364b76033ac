"""Files people and machines write: config, scripts, calibrations, the store."""

import os

import pytest

from rig.calibration import load_calibration, parse_calibration
from rig.config import load_config
from rig.controls import FUNCTIONS
from rig.inputs import InputError
from rig.script import load_script, parse_script
from rig.sequencer import Point
from rig.store import Store

GOOD_CAL = {"lens": "L", "steps": 407,
            "drive": [{"size": 1, "steps": 1.0, "speed": 23.496},
                      {"size": 2, "steps": 4.0, "speed": 48.733},
                      {"size": 3, "steps": 26.0, "speed": 94.321}]}


def test_default_config_is_valid():
    config = load_config()
    assert config.buttons == {"up": 17, "down": 22, "left": 27, "right": 23, "centre": 4,
                              "a": 5, "b": 6, "thumb": 12}   # the OLED Bonnet, and the jack
    for function in FUNCTIONS:
        assert config.bindings.gestures(function), function


@pytest.mark.parametrize("text,key,line", [
    ("[buttons]\nthumb = 5\n", "buttons.thumb", 2),
    ("[buttons]\nup = 2\n", "buttons.up", 2),
    ("[buttons]\nup = 40\n", "buttons.up", 2),
    ("[buttons]\nset = 12\n", "buttons.set", 2),
    ("[encoder.focus]\nenabled = true\npush = 12\n", "encoder.focus.push", 3),
    ("[functions]\nq = [\"b long\"]\n", "functions.q", 2),
    ("[functions]\nq = \"b\"\n", "functions.q", 2),
    ("[functions]\nq = [\"c\"]\n", "functions.q", 2),
    ("[functions]\nq = [\"b twice\"]\n", "functions.q", 2),
    ("[functions]\nzoom = [\"b\"]\n", "functions.zoom", 2),
    ("[functions]\nq = []\nup = [\"b\"]\n", "functions.up", 3),
    ("[functions]\njog_far = [\"a+right\"]\n", "functions.jog_far", 2),
    ("[ui]\nhold_tme = 1\n", "ui.hold_tme", 2),
    ("[display]\ndriver = \"hdmi\"\n", "display.driver", 2),
    ("[ui]\nhold_time = 2.0\ncoarse_time = 1.0\n", "ui.coarse_time", 3),
    ("[encoder.focus]\nenabled = true\na = 6\n", "encoder.focus.a", 3),
    ("[camera]\nport = 7\n", "camera.port", 2),
])
def test_bad_config_names_file_line_and_key(tmp_path, text, key, line):
    path = tmp_path / "rig.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:{line}: {key}:")


def test_script_parses():
    actions = parse_script("# comment\n+0 wait idle\n+1.5 press set  # go\n"
                           "+0.2 hold up 2\n+0 turn focus -12\n+3 subject 250\n")
    assert [(a.kind, a.name, a.value) for a in actions] == [
        ("wait", "idle", 0), ("press", "set", 0), ("hold", "up", 2.0),
        ("turn", "focus", -12.0), ("subject", "", 250.0)]
    assert actions[1].delay == 1.5 and actions[1].line == 3
    region = parse_script("+0 region 0.1 0.2 0.3 0.25\n+1 region middle\n")
    assert [(a.kind, a.region) for a in region] == [("region", (0.1, 0.2, 0.3, 0.25)),
                                                    ("region", None)]


@pytest.mark.parametrize("text,fragment", [
    ("+1 press sett\n", "unknown input 'sett'"),
    ("+1 jump set\n", "unknown action 'jump'"),
    ("press set\n", "starts with +SECONDS"),
    ("+x press set\n", "must be a number"),
    ("+1 hold up\n", "usage: hold NAME SECONDS"),
    ("+1 turn zoom 3\n", "unknown encoder 'zoom'"),
    ("+1 turn focus 1.5\n", "whole number"),
    ("+1 wait forever\n", "usage: wait idle"),
    ("+-1 press set\n", "must be >= 0"),
    ("+1 region 0.5 0.5 0.2\n", "usage: region X Y W H"),
    ("+1 region 0.8 0.1 0.4 0.2\n", "end inside it"),
    ("+1 region 0.1 0.1 x 0.2\n", "must be a number"),
])
def test_bad_script_line_is_named(tmp_path, text, fragment):
    path = tmp_path / "s.rig"
    path.write_text("+0 wait idle\n" + text)
    with pytest.raises(InputError) as err:
        load_script(path)
    assert str(err.value).startswith(f"{path}:2: ") and fragment in str(err.value)


def test_calibration_round_trip_and_errors(tmp_path):
    cal = parse_calibration(GOOD_CAL)
    assert parse_calibration(cal.to_json()) == cal
    assert cal.model().drive(3).period == pytest.approx(26 / 94.321)
    for broken, key in [
        ({**GOOD_CAL, "steps": "many"}, "steps"),
        ({k: v for k, v in GOOD_CAL.items() if k != "drive"}, "drive"),
        ({**GOOD_CAL, "drive": [{"size": 1, "steps": 1.0}]}, "drive[0].speed"),
        ({**GOOD_CAL, "drive": [{"size": 1, "steps": 1.0, "speed": -2}]}, "drive[0].speed"),
        ({**GOOD_CAL, "drive": GOOD_CAL["drive"] + [GOOD_CAL["drive"][0]]}, "drive"),
    ]:
        with pytest.raises(InputError) as err:
            parse_calibration(broken, "cal.json")
        assert f"cal.json: {key}:" in str(err.value)
    path = tmp_path / "cal.json"
    path.write_text('{"lens": "L",\n "steps": 4o7}')
    with pytest.raises(InputError) as err:
        load_calibration(path)
    assert str(err.value).startswith(f"{path}:2: not valid JSON")


def test_store_round_trip_and_atomic_files(tmp_path):
    store = Store(tmp_path)
    points = (Point(10), Point(200, 2.5))
    store.save_sequence(points, "L")
    assert store.load_sequence() == points
    cal = parse_calibration({**GOOD_CAL, "camera": "EOS R"})
    path = store.save_calibration(cal)
    assert store.load_calibration("EOS R", "L") == cal
    assert store.load_calibration("EOS R", "other lens") is None
    leftovers = [p for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [] and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_corrupt_sequence_is_reported_and_left_alone(tmp_path):
    store = Store(tmp_path)
    store.sequence_path.write_text('{"points": [{"position": 10}, {"position": -4}]}')
    mtime = os.stat(store.sequence_path).st_mtime_ns
    assert store.load_sequence() == ()          # no backup: empty, and it says so
    assert len(store.problems) == 1
    assert str(store.sequence_path) in store.problems[0]
    assert "points[1].position" in store.problems[0] and "nothing usable" in store.problems[0]
    assert os.stat(store.sequence_path).st_mtime_ns == mtime    # rig did not touch it


def test_a_damaged_sequence_falls_back_to_its_backup_and_is_kept(tmp_path):
    store = Store(tmp_path)
    store.save_sequence((Point(10),), "L")
    store.save_sequence((Point(10), Point(200, 2.0)), "L")      # the first is now the backup
    store.sequence_path.write_text('{"points": [')              # power cut, disk error ...
    assert store.load_sequence() == (Point(10),)
    assert "not valid JSON" in store.problems[0] and "using the backup" in store.problems[0]
    store.save_sequence((Point(30),), "L")                      # the next save ...
    assert (tmp_path / "sequence.json.damaged").read_text() == '{"points": ['   # keeps it
    assert Store(tmp_path).load_sequence() == (Point(30),)
    backup = tmp_path / "sequence.json.bak"
    assert '"position": 10' in backup.read_text()               # and the good backup


def test_easing_is_saved_and_a_bad_one_refused(tmp_path):
    store = Store(tmp_path)
    store.save_sequence((Point(10), Point(200, 2.5, "ease")), "L")
    assert store.load_sequence()[1].easing == "ease"
    store.save_sequence((Point(10), Point(200, 2.5, "ease")), "L")   # a backup generation
    store.sequence_path.write_text('{"points": [{"position": 1, "easing": "wobbly"}]}')
    assert store.load_sequence()[1].easing == "ease"            # the backup
    assert "points[0].easing" in store.problems[0]


def test_config_easing_default(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text('[ui]\neasing = "ease"\n')
    assert load_config(path).ui.easing == "ease"
    path.write_text('[ui]\neasing = "bouncy"\n')
    with pytest.raises(InputError, match="ui.easing"):
        load_config(path)


def test_calibration_of_the_realistic_lens():
    """steps_near/steps_far per drive and backlash; old files mean constant steps, no play."""
    old = parse_calibration(GOOD_CAL)
    assert not old.backlash and all(d.near == d.far == d.steps for d in old.drive)
    assert "backlash" not in old.to_json()                 # an old file is saved as it was
    assert old.model().backlash == 0 and not old.model().varies
    data = {**GOOD_CAL, "backlash": 2.4,
            "drive": [dict(d) for d in GOOD_CAL["drive"]]}
    data["drive"][2].update(steps_near=26.0, steps_far=29.4)
    data["drive"][1].update(steps_far=3.6)           # only the far end: near is ``steps``
    cal = parse_calibration(data)
    assert parse_calibration(cal.to_json()) == cal
    out = cal.to_json()
    assert out["backlash"] == 2.4 and out["drive"][2]["steps_far"] == 29.4
    model = cal.model()
    assert model.backlash == 2.4
    assert model.drive(3).steps == 26.0 and model.drive(3).far == 29.4
    assert model.drive(2).steps == GOOD_CAL["drive"][1]["steps"] and model.drive(2).far == 3.6
    assert model.drive(3).period == pytest.approx(26 / 94.321)  # the spacing does not vary
    assert model.step_at(3, 0, 1) > 26.0 and model.step_at(3, model.steps, -1) < 29.4


def test_commands_are_never_spaced_closer_than_a_call():
    """One camera call at a time: a motor faster than the calls (a Fuji's) is paced by them."""
    fast = {**GOOD_CAL, "latency_ms": 25.0, "latency_jitter_ms": 2.0,
            "drive": [{"size": 1, "steps": 1.0, "speed": 800.0},
                      {"size": 2, "steps": 4.0, "speed": 800.0},
                      {"size": 3, "steps": 26.0, "speed": 800.0}]}
    model = parse_calibration(fast).model()
    assert model.drive(1).period == pytest.approx(0.029)       # 25 ms + 2 sigma, not 1.25 ms
    assert model.drive(3).period == pytest.approx(26 / 800)    # slower than a call: as measured
