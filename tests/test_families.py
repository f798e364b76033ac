"""Every camera family: detected from what the camera says, calibrated by what it gives."""

import json
import re

import pytest

from rig.cli import main
from rig.drives import FujiDrive, NikonDrive, SonyDrive
from rig.harness import on_mark
from rig.sim import PROFILES, load_profile

FAMILIES = {
    "canon": "canon-ef24.toml",
    "olympus": "olympus-em1.toml",
    "panasonic": "panasonic-gh5.toml",
    "nikon": "nikon-d750.toml",
    "sony": "sony-a7.toml",
    "fuji": "fuji-gfx.toml",
}
METHODS = {"canon": "liveview", "olympus": "liveview", "panasonic": "liveview",
           "sony": "liveview", "nikon": "counting", "fuji": "reading"}


def truth_steps(profile, size):
    """What one command of rig's drive size really moves, from the profile."""
    if profile.vendor == "nikon":
        return NikonDrive.amounts[size] * profile.options["min_units"]
    if profile.vendor == "fuji":
        return FujiDrive.amounts[size]
    if profile.vendor == "sony":
        return profile.drive[SonyDrive.magnitudes[size]].steps
    return profile.drive[size].steps


@pytest.mark.parametrize("family", list(FAMILIES))
def test_calibrate_json_recovers_each_family(family, tmp_path, capsys):
    path = PROFILES / FAMILIES[family]
    profile = load_profile(path)
    assert profile.vendor == family
    code = main(["calibrate", "--camera", f"sim:{path}", "--json", "--state-dir", str(tmp_path)])
    assert code == 0
    cal = json.loads(capsys.readouterr().out)
    assert cal["family"] == family and cal["method"] == METHODS[family]
    assert abs(cal["steps"] - profile.steps) <= 0.01 * profile.steps
    for d in cal["drive"]:
        truth = truth_steps(profile, d["size"])
        assert abs(d["steps"] - truth) <= 0.05 * truth, (d, truth)
    sizes = [d["size"] for d in cal["drive"]]
    assert sizes == ([1, 2] if family == "panasonic" else [1, 2, 3])
    # Only Sony reports a (coarse) position the live-view range is checked with.
    assert ("focalposition_range" in cal) == (family == "sony")
    if family == "sony":
        assert abs(cal["focalposition_range"] - profile.steps) <= profile.steps / 100
        assert cal["focalposition_linear"] is True and cal["sweeps"] == 1


def lose_in_sweeps(body, losses):
    """A progress callback that makes ``body`` lose 30 size-1 commands in a sweep.

    ``losses[i]``: the step of sweep i (0-based, counted from its near stop)
    from which 30 commands are lost, or None for none.
    """
    sweeps = []

    def progress(phase, fraction):
        if phase == "near stop" and fraction == 0.0:    # a sweep starts from the near stop
            sweeps.append(0)
        if phase == "sweep":            # one call per size-1 step of the sweep
            sweeps[-1] += 1
            start = losses[len(sweeps) - 1] if len(sweeps) <= len(losses) else None
            body.set_drop(1.0 if start is not None and start <= sweeps[-1] < start + 30
                          else 0.0)
    return progress, sweeps


def sony_lens(profile_path=PROFILES / FAMILIES["sony"]):
    from rig.clock import VirtualClock
    from rig.lens import Lens
    from rig.sim import SimBody

    clock = VirtualClock()
    body = SimBody(load_profile(profile_path), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    return lens, body


def test_sony_commands_lost_in_one_sweep_are_caught_and_swept_again(caplog):
    """30 size-1 commands lost on the way to the far stop: the live view alone
    would count them and put the far stop 30 steps too far (every size then
    measured 5 % long); the camera's 0-100 reading disagrees, so the lens
    sweeps again, and the second sweep, which agrees, is used."""
    from rig.calibrate import calibrate

    lens, body = sony_lens()
    progress, sweeps = lose_in_sweeps(body, [200])
    with caplog.at_level("INFO", logger="rig.calrange"):
        cal = calibrate(lens, progress=progress)
    assert len(sweeps) == 2 and body.truth.dropped >= 30
    # 30 of about 830 steps lost at 200: the readings past it are 3-4 units off (the
    # share depends on how far past the far stop the sweep records)
    assert re.search(r"disagrees with the live view on 4[5-9]% of the sweep \(by up to [34] "
                     r"units\)", caplog.text)
    assert "commands were lost in the first calibration sweep" in caplog.text
    assert cal.steps == 800 and cal.extra["sweeps"] == 2
    assert cal.extra["focalposition_linear"] is True
    assert abs(cal.extra["focalposition_range"] - 800) <= 8
    steps = {d.size: d.steps for d in cal.drive}
    assert steps == {1: 1.0, 2: 8.0, 3: 60.0}


def test_sony_commands_lost_in_both_sweeps_fail_calibration():
    """Lost in both sweeps, at different steps: the two sweeps read differently,
    so the reading cannot be blamed; calibration fails and says why."""
    from rig.calibrate import CalibrationError, calibrate

    lens, body = sony_lens()
    progress, sweeps = lose_in_sweeps(body, [200, 500])
    with pytest.raises(CalibrationError, match=r"far stop 830, then \d+ steps .* focus position "
                                               r"\(0-100\) disagrees .* differently each time: "
                                               "commands were lost"):
        calibrate(lens, progress=progress)
    assert len(sweeps) == 2


NONLINEAR_SESSION = """\
+0    wait idle            # calibrate: two sweeps, the reading is not linear
+1    press info           # play -> inactive
+0.6  press info           # inactive -> edit
+0.5  turn focus 150
+0    wait idle
+0.8  press set            # point 1
+0.5  turn focus 350
+0    wait idle
+0.8  press q              # point 2
+0.6  hold up 1.0
+0    wait idle
+1    press info           # play: the rig learns the scene for its checks
+0    wait idle
+1    press q
+0    wait idle
+1    press set
+0    wait idle
+1    press q
+0    wait idle
+1    press set
+0    wait idle
"""


@pytest.fixture
def sony_sqrt(tmp_path):
    """The Sony profile with a focalposition that reads 100 sqrt(x / steps)."""
    text = (PROFILES / FAMILIES["sony"]).read_text()
    assert "focalposition = true\n" in text
    path = tmp_path / "sony-sqrt.toml"
    path.write_text(text.replace("focalposition = true\n",
                                 "focalposition = true\nfocalposition_gamma = 0.5\n"))
    return path


def test_a_sony_whose_reading_is_not_linear_calibrates_and_plays_by_the_live_view(
        sony_sqrt, tmp_path, caplog):
    """Two sweeps read the same curve, off the straight line: the reading is not
    linear in steps.  Calibration stands on the live view, says so, and the
    rig then plays with live-view checks only: a scale given to this reading
    would put every checked position off (by up to a quarter of the range)."""
    script = tmp_path / "session.rig"
    script.write_text(NONLINEAR_SESSION)
    report_path = tmp_path / "report.json"
    code = main(["simulate", "--camera", f"sim:{sony_sqrt}", "--script", str(script),
                 "--report", str(report_path), "--state-dir", str(tmp_path / "state")])
    assert code == 0
    report = json.loads(report_path.read_text())
    cal = report["lens"]
    assert cal["focalposition_linear"] is False and cal["sweeps"] == 2
    assert "focalposition_range" not in cal
    assert cal["steps"] == 800
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("focus position (0-100) is not proportional to the lens position" in w
               for w in warnings), warnings
    assert report["errors"] == []
    # Given a scale, this reading would send each checked move about 150
    # steps astray (and the live view would then have to bring it back,
    # late): every move lands, on time.
    plays = [t for t in report["transitions"] if t["kind"] == "play"]
    assert len(plays) == 2
    for t in report["transitions"]:
        assert on_mark(t), t                 # the demo's rule (rig.harness)
        assert abs(t["actual_s"] - t["planned_s"]) <= 0.02 * t["planned_s"], t
