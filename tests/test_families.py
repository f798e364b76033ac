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
