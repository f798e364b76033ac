"""Calibration is safe and honest (issue 13): it never overfills a camera's queue,
refuses with a true cause from a fixed set, checks what it found before it is kept,
and turns any exception into a refusal."""

import dataclasses

import gphoto2 as gp
import pytest

import rig.calibrate as calibrate_module
from rig import calsteps, zoo
from rig.calframes import Motor, measure_noise
from rig.calrange import measure_range
from rig.calibrate import CAUSES, CalibrationError, calibrate
from rig.cli import main
from rig.clock import VirtualClock
from rig.lens import Lens
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile

# The legacy EF 24mm (whole steps, no spread): where a test checks its exact numbers.
LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"


def connected(profile=None, **changes):
    clock = VirtualClock()
    profile = dataclasses.replace(profile or load_profile(DEFAULT_PROFILE), **changes)
    cam = SimBody(profile, clock).session()
    lens = Lens(cam, clock)
    lens.connect()
    return lens, cam, clock


def refusal(lens) -> CalibrationError:
    with pytest.raises(CalibrationError) as caught:
        calibrate(lens)
    assert caught.value.cause in CAUSES
    assert lens.model is None           # nothing half-measured is left in use
    return caught.value


def test_a_camera_that_takes_two_requests_never_gets_a_third():
    """A Canon that stops answering (-7) when a request arrives with two outstanding:
    calibration never sends a third (issue 15: never more than two outstanding), and
    still recovers the lens."""
    lens, cam, clock = connected(load_profile(LEGACY), busy="queue", queue_depth=2, start=300)
    cal = calibrate(lens)
    assert cam.truth.overflows == 0 and not cam.body.hung
    assert cal.steps == 407
    assert {d.size: d.steps for d in cal.drive} == {1: 1.0, 2: 4.0, 3: 26.0}
    assert [c["off"] for c in cal.extra["check"]]          # it was checked ...
    assert all(abs(c["off"]) <= c["allowed"] for c in cal.extra["check"])
    assert lens.position == 0 == cam.truth.position(clock.now())   # ... and homed


def test_lens_on_mf_is_the_cause_only_when_the_lens_does_not_move():
    lens, cam, clock = connected()
    cam.body.af = False
    error = refusal(lens)
    assert error.cause == "mf" and "set the lens switch to AF" in str(error)


def test_a_blur_at_the_near_stop_is_swept_through_not_called_mf():
    """A 180mm macro (zoo 8) shows one blur for the first size-1 steps from its near
    stop: that once made calibration say "set the lens switch to AF" while the lens
    moved, then refuse for precision. The sweep goes on through the blur and finds
    the range (the far stop's alignment is twice the play long until the play is known)."""
    profile = zoo.profile(8)
    lens, cam, clock = connected(profile)
    lens.liveview_on()
    frames = measure_noise(lens)
    sweep = measure_range(frames, Motor(lens, calibrate_module.CalibrationSettings()),
                          lambda phase, fraction: None)
    assert cam.truth.ignored == 0                       # the lens did move
    assert abs(sweep.range - 2 * profile.backlash - profile.steps) <= 0.01 * profile.steps


def test_a_flat_picture_is_refused_for_its_detail():
    # The legacy plane (canon-ef24.toml), whose one texture is flattened here.
    legacy = load_profile(DEFAULT_PROFILE.parent / "canon-ef24.toml")
    lens, cam, clock = connected(legacy, blur_per_step=0.0, noise=0.5)
    cam.body._scene[:] = 128
    cam.body._blurred.clear()
    assert refusal(lens).cause == "detail"


def test_a_picture_that_keeps_changing_is_refused_for_the_scene():
    lens, cam, clock = connected()
    cam.body.pan(100000.0, over=100000.0)        # the camera turns all the while
    error = refusal(lens)
    assert error.cause == "scene" and "kept changing" in str(error)


def test_a_camera_that_goes_away_is_refused_for_the_camera_with_its_code():
    lens, cam, clock = connected()
    cam.body.fail_next("capture_preview", gp.GP_ERROR_IO_USB_FIND)
    error = refusal(lens)
    assert error.cause == "camera" and error.code == gp.GP_ERROR_IO_USB_FIND


def test_a_fault_of_its_own_is_a_refusal_not_a_traceback(monkeypatch):
    def broken(frames, motor, progress):
        return 1 / 0
    monkeypatch.setattr(calibrate_module, "measure_range", broken)
    lens, cam, clock = connected()
    error = refusal(lens)
    assert error.cause == "internal" and "ZeroDivisionError" in str(error)


def test_a_wrong_result_fails_its_check_and_is_not_returned(monkeypatch):
    """Size 3 measured 8 % long: the check drive from the near stop lands elsewhere
    than the calibration predicts, and calibration refuses, naming the arrival."""
    effective = calsteps.effective

    def long(at, size, guess, progress):
        found = effective(at, size, guess, progress)
        if size == 3:
            return dataclasses.replace(found, steps=found.steps * 1.08, near=found.steps * 1.08,
                                       far=found.steps * 1.08)
        return found
    monkeypatch.setattr(calsteps, "effective", long)
    lens, cam, clock = connected(load_profile(LEGACY))      # 26 steps exactly: 28.08
    error = refusal(lens)
    assert error.cause == "check"
    assert "size-3 commands from the near stop" in str(error)
    assert "steps from where the calibration predicts" \
        in str(error)
    assert error.candidate is not None                      # what was refused, for the record
    assert {d.size: round(d.steps, 2) for d in error.candidate.drive}[3] == 28.08


def test_rig_calibrate_says_the_cause_and_saves_nothing(tmp_path, capsys):
    profile = tmp_path / "mf.toml"
    profile.write_text(DEFAULT_PROFILE.read_text() + "\n[body]\naf = false\n")
    state = tmp_path / "state"
    code = main(["calibrate", "--camera", f"sim:{profile}", "--state-dir", str(state)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("rig: calibration refused (cause: mf): ")
    assert not (state / "lenses").exists() or not any((state / "lenses").iterdir())


def test_every_cause_is_documented():
    from pathlib import Path
    text = (Path(__file__).parents[1] / "docs" / "calibration.md").read_text()
    for cause in CAUSES:
        assert f"`{cause}`" in text, cause
