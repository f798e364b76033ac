"""The hardware protocol's checks (tests/test_hardware.py) on the simulator: each passes on a
camera that does what it should, and fails, saying why, on one that does not."""

from __future__ import annotations

import pytest

from rig.clock import VirtualClock
from rig.lens import Lens
from rig.sim import PROFILES, SimBody, known_calibration, load_profile, parse_profile
from test_hardware import (check_connects, check_drives_both_ways, check_frame_rate,
                           check_homing_ends_still, check_sequence_returns)

# The legacy EF 24mm: these test the hardware checks themselves (each passes on a
# camera that behaves and fails on one that does not), against its figures.
LEGACY = PROFILES / "canon-ef24.toml"
PROFILE = load_profile(LEGACY)


def _lens(profile=PROFILE):
    clock = VirtualClock()
    body = SimBody(profile, clock)
    lens = Lens(body.session(), clock)
    check_connects(lens)
    return lens, body


def test_the_checks_pass_on_a_camera_that_behaves():
    lens, body = _lens()
    cal = known_calibration(PROFILE)
    assert check_drives_both_ways(lens) > 3
    assert check_frame_rate(lens, PROFILE.preview_ms) == pytest.approx(0.05)
    check_homing_ends_still(lens, cal)
    assert body.truth.position(body.clock.now()) == 0.0
    assert check_sequence_returns(lens, cal) < 0.1


def test_the_drive_check_fails_with_the_lens_on_mf():
    lens, _ = _lens(parse_profile(LEGACY.read_text() + "\n[body]\naf = false\n"))
    with pytest.raises(AssertionError, match="lens switch on MF"):
        check_drives_both_ways(lens)


def test_the_frame_rate_check_fails_against_another_rate():
    lens, _ = _lens()
    with pytest.raises(AssertionError, match="frames come every 50 ms, not 100 ms"):
        check_frame_rate(lens, 100.0)


def test_homing_fails_when_the_calibration_is_too_short_for_the_lens():
    """A calibration that says the lens is a third as long: homing stops short of the stop."""
    lens, _ = _lens()
    cal = known_calibration(PROFILE)
    import dataclasses
    short = dataclasses.replace(cal, steps=cal.steps // 3)
    lens.clock.sleep(0)
    # start far from the near stop so that a short homing cannot reach it
    for _ in range(20):
        lens.send(3, +1)
        lens.clock.sleep(0.5)
    with pytest.raises(AssertionError, match="not at the stop|still changes"):
        check_homing_ends_still(lens, short)


def test_the_return_check_fails_when_commands_are_lost():
    """A camera that loses a fifth of its drive commands: A is not A any more."""
    lens, body = _lens()
    body.set_drop(0.2)
    with pytest.raises(AssertionError, match="did not return to its point"):
        check_sequence_returns(lens, known_calibration(PROFILE))
