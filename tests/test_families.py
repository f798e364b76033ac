"""Every camera family: detected from what the camera says, calibrated by what it gives."""

import json

import pytest

from rig.cli import main
from rig.drives import FujiDrive, NikonDrive, SonyDrive
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


def test_sony_focalposition_catches_commands_lost_in_the_sweep():
    """30 size-1 commands lost on the way to the far stop: the live view alone
    would count them and put the far stop 30 steps too far (every size then
    measured 5 % long); the camera's 0-100 reading disagrees, and says so."""
    from rig.calibrate import CalibrationError, calibrate
    from rig.clock import VirtualClock
    from rig.lens import Lens
    from rig.sim import SimBody

    clock = VirtualClock()
    body = SimBody(load_profile(PROFILES / FAMILIES["sony"]), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    sweep = []

    def progress(phase, fraction):
        if phase == "sweep":            # one call per size-1 step of the sweep
            sweep.append(fraction)
            body.set_drop(1.0 if 200 <= len(sweep) < 230 else 0.0)

    with pytest.raises(CalibrationError, match=r"far stop 830 steps .* focus position \(0-100\) "
                                               "disagrees"):
        calibrate(lens, progress=progress)
    assert body.truth.dropped == 30
