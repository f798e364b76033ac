"""Contrast autofocus (rig.autofocus) on the simulator, through the real lens code.

Each test reads the simulator's truth, which the rig never sees: where the
lens really ended, and the motion segments that got it there.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

from rig.autofocus import AFResult, autofocus, check_roi, fit_peak, measured_region, v_peak
from rig.calibrate import calibrate
from rig.clock import VirtualClock
from rig.drives import SonyDrive
from rig.lens import FAR, NEAR, Lens, SPACING_GUARD
from rig.planner import Drive, LensModel
from rig.sim import PROFILES, DriveSpec, SimBody, load_profile


def true_model(profile, sizes=None):
    """The model a perfect calibration of ``profile`` would give (no calibration run).

    ``sizes``: rig's size -> the profile's drive (a Sony's magnitudes), else all of them.
    """
    sizes = sizes or {k: k for k in profile.drive}
    drives = []
    for k, key in sorted(sizes.items()):
        d = profile.drive[key]
        move = d.steps / d.speed
        drives.append(Drive(k, d.steps, move * 1.015 + SPACING_GUARD * profile.latency_jitter_ms
                            / 1000 + 3 * d.jitter / d.speed, move, d.jitter))
    return LensModel(profile.steps, tuple(drives), profile.latency_ms / 1000)


# The legacy EF 24mm plane, not the default realistic lens: these tests give the
# lens a perfect model (true_model: whole steps the same along the range, no
# backlash) and move the subject on the plane, to test autofocus's search, not
# the lens.  Autofocus on the realistic profiles' layered scenes is bench/af.py's.
LEGACY = PROFILES / "canon-ef24.toml"


class Rig:
    """A connected, homed lens with a known model on a simulated body."""

    def __init__(self, path=LEGACY, *, calibrated=False, sizes=None, **changes):
        self.profile = dataclasses.replace(load_profile(path), **changes)
        self.clock = VirtualClock()
        self.body = SimBody(self.profile, self.clock)
        self.lens = Lens(self.body.session(), self.clock)
        self.lens.connect()
        if calibrated:
            calibrate(self.lens)
        else:
            sizes = sizes or {k: k for k in self.profile.drive}
            self.lens.model = true_model(self.profile, sizes)
            self.lens.jitter = {k: self.profile.drive[key].jitter for k, key in sizes.items()}
            self.lens.home()

    def truth(self):
        truth = self.body.truth
        return truth.position(max(truth.settled_at(), self.clock.now()))

    def focus(self, subject, start, **kwargs) -> AFResult:
        self.lens.move_to(start)
        self.body.set_subject(subject)
        return autofocus(self.lens, **kwargs)


@pytest.mark.parametrize("subject,start", [(37.5, 300), (203.0, 0), (388.2, 150), (120.0, 407)])
def test_converges_from_anywhere(subject, start):
    rig = Rig()
    result = rig.focus(subject, start)
    assert result.ok, result.reason
    assert abs(rig.truth() - subject) <= 2
    assert result.position == rig.truth()          # the rig knows where the lens is
    assert result.frames <= 20 and result.frames == len(result.samples)
    assert result.fit is not None and abs(result.fit.center - subject) <= 2
    json.dumps(result.to_json())                    # a web page can have it as it is


def test_converges_on_a_nikon_whose_calls_wait_for_the_motor():
    rig = Rig(PROFILES / "nikon-d750.toml", calibrated=True)
    result = rig.focus(812.0, 100)
    assert result.ok, result.reason
    assert abs(rig.truth() - 812) <= 3 and result.position == rig.truth()


@pytest.mark.parametrize("start", [0, 400, 800])
def test_a_narrow_peak_the_coarse_frames_took_for_a_wide_one_is_found(start):
    """``rig demo --camera sim:sony-a7.toml``'s near AF: the subject is sharp at 120, between
    coarse frames at 80 and 200 whose sharp measures both stand above the floor (a narrow
    peak's tails), so the fine sweep set out 60 steps apart on a peak about 14 wide, saw it
    on one frame, and gave up with "no sharp peak" once the frames added between could not pin
    it down.  It then sweeps again, 10 apart, where the first frames put it."""
    rig = Rig(PROFILES / "sony-a7.toml", sizes=SonyDrive.magnitudes)
    result = rig.focus(120.0, start)
    assert result.ok, result.reason
    assert abs(rig.truth() - 120) <= 1 and result.position == rig.truth()
    assert result.fit is not None and result.fit.hi - result.fit.lo <= 40
    assert result.frames <= 25      # the 17 spent before giving up, and the sweep again


@pytest.mark.parametrize("subject", [6.0, 30.0])
def test_a_narrow_peak_near_a_stop_is_not_taken_for_one_beyond_it(subject):
    """The same Sony: a subject sharp at 30 sat between fine frames at 0 and 60, the
    sharpest at the stop, and AF said "subject too near"; it looks again there, 10 apart."""
    rig = Rig(PROFILES / "sony-a7.toml", sizes=SonyDrive.magnitudes)
    result = rig.focus(subject, 400)
    assert result.ok, result.reason
    assert abs(rig.truth() - subject) <= 2 and result.position == rig.truth()


@pytest.mark.parametrize("subject", [-60.0, -25.0])
def test_on_the_sony_a_subject_beyond_the_near_stop_is_still_refused(subject):
    rig = Rig(PROFILES / "sony-a7.toml", sizes=SonyDrive.magnitudes)
    result = rig.focus(subject, 400)
    assert not result.ok and result.reason.startswith("subject too near"), result.reason
    assert rig.truth() == 400 and result.position == 400


def test_a_spreading_drive_still_lands_on_the_subject():
    """Sizes 2 and 3 spread (sigma 0.4 and 2 steps): near the peak only size 1 is used."""
    drive = {1: DriveSpec(1.0, 0.0, 23.496), 2: DriveSpec(4.0, 0.4, 48.733),
             3: DriveSpec(26.0, 2.0, 94.321)}
    rig = Rig(drive=drive)
    for target in (400, 0, 400, 0, 400, 0, 400, 0, 200):   # long moves: the count drifts
        rig.lens.move_to(target)
    drifted = rig.lens.uncertainty
    assert drifted > 8
    for subject, start in ((150.0, 380), (290.0, 40)):
        result = rig.focus(subject, start)
        assert result.ok, result.reason
        assert abs(rig.truth() - subject) <= 2
        # The scan began at a stop, where the position is exact again; since
        # then, only the scan's strides add their spread.  The rig says how
        # good its count is, and is honest about it.
        assert rig.lens.uncertainty < 8 < drifted
        assert abs(result.position - rig.truth()) <= 4 * rig.lens.uncertainty + 1


def test_lost_commands_are_forgotten_at_the_stop():
    rig = Rig()
    rig.lens.move_to(150)
    rig.body.set_drop(1.0)            # the next commands never reach the motor
    for _ in range(7):
        rig.lens.wait_free()
        rig.lens.send(1, NEAR)
    rig.body.set_drop(0.0)
    assert rig.lens.position == 143 and rig.truth() == 150
    result = autofocus(rig.lens)       # the scan starts at the far stop, which resets the count
    assert result.ok and abs(rig.truth() - 250) <= 2
    assert result.position == rig.truth()


def test_fine_sweep_and_final_approach_move_one_way():
    rig = Rig()
    result = rig.focus(180.0, 60)       # scans from the far stop near-wards, so sweeps back far-wards
    assert result.ok, result.reason
    fine = [s for s in result.samples if s.stage == "fine"]
    check = result.samples[-1]
    assert check.stage == "check"
    way = np.sign(fine[1].position - fine[0].position)
    assert way == FAR
    segments = [s for s in rig.body.truth.segments if fine[0].t <= s.t0 < check.t]
    directions = [np.sign(s.x1 - s.x0) for s in segments]
    # Between fine frames, every motion goes the sweep's way.
    between = [np.sign(s.x1 - s.x0) for s in segments if s.t0 < fine[-1].t]
    assert between and all(d == way for d in between)
    # Then round past the peak, and back into it the same way, by a whole
    # fine spacing at least (backlash is taken up as during the sweep).
    last_turn = max(i for i, d in enumerate(directions) if d != way)
    final = segments[last_turn + 1:]
    assert final and all(np.sign(s.x1 - s.x0) == way for s in final)
    assert abs(final[-1].x1 - final[0].x0) >= 5
    assert final[-1].x1 == rig.truth() == result.position


@pytest.mark.parametrize("noise,roi", [(2.0, (0.3, 0.3, 0.4, 0.4)), (1.0, (0.3, 0.3, 0.4, 0.4)),
                                       (8.0, (0.49, 0.49, 0.02, 0.02)), (2.0, (0.7, 0.1, 0.1, 0.1))])
def test_a_flat_scene_fails_and_returns_the_lens(noise, roi):
    rig = Rig(contrast=0.0, noise=noise)
    for subject, start in ((200.0, 150), (40.0, 380), (330.0, 20)):
        result = rig.focus(subject, start, roi=roi)
        assert not result.ok
        assert result.reason.startswith("no contrast")
        assert rig.truth() == start and result.position == start == rig.lens.position
        assert result.fit is None


def test_a_small_region_is_measured_larger_about_its_centre():
    assert measured_region((0.45, 0.45, 0.1, 0.1), 0.2) == pytest.approx((0.4, 0.4, 0.2, 0.2))
    assert measured_region((0.0, 0.95, 0.05, 0.05), 0.2) == pytest.approx((0.0, 0.8, 0.2, 0.2))
    assert measured_region((0.1, 0.2, 0.5, 0.3), 0.2) == (0.1, 0.2, 0.5, 0.3)
    rig = Rig()
    result = rig.focus(230.0, 30, roi=(0.9, 0.05, 0.06, 0.04))
    assert result.ok, result.reason
    assert abs(rig.truth() - 230) <= 2
    assert result.roi == pytest.approx((0.8, 0.0, 0.2, 0.2))


@pytest.mark.parametrize("subject,end", [(-60.0, "near"), (-30.0, "near"), (440.0, "far"),
                                         (470.0, "far")])
def test_a_peak_beyond_the_stops_is_reported(subject, end):
    rig = Rig()
    result = rig.focus(subject, 220)
    assert not result.ok
    assert result.reason.startswith(f"subject too {end}")
    assert f"sharpest picture is at the {end} stop" in result.reason
    assert rig.truth() == 220 and result.position == 220


@pytest.mark.parametrize("subject", [0.0, 407.0])
def test_a_subject_right_at_a_stop_is_focused(subject):
    rig = Rig()
    result = rig.focus(subject, 200)
    assert result.ok, result.reason
    assert abs(rig.truth() - subject) <= 1


def test_a_subject_that_moves_before_the_last_look_is_caught():
    rig = Rig(noise=0.0)                 # no noise: both runs take the same frames
    real, moves_at = rig.lens.frame, [math.inf]

    def frame():
        if rig.lens.frames >= moves_at[0]:
            rig.body.set_subject(160.0)  # someone stepped back
        return real()
    rig.lens.frame = frame
    probe = rig.focus(121.3, 300)     # (noise-free: no two frames either side alike)
    assert probe.ok and probe.samples[-1].stage == "check"
    rig.lens.move_to(300)
    rig.body.set_subject(121.3)
    moves_at[0] = rig.lens.frames + probe.frames - 1
    result = autofocus(rig.lens)
    assert result.frames == probe.frames
    assert not result.ok and result.reason.startswith("not sharp at the peak")
    assert rig.truth() == 300 == result.position


def test_a_frozen_live_view_fails_and_returns_the_lens():
    rig = Rig()
    rig.lens.move_to(150)
    rig.body.set_subject(260.0)
    rig.lens.wait_free()
    rig.lens.frame()
    rig.body.set_faults({"freeze": 1.0, "freeze_s": 600.0})
    rig.lens.frame()                     # this one starts the freeze
    rig.body.set_faults({"freeze_s": 600.0})
    result = autofocus(rig.lens)
    assert not result.ok and "froze" in result.reason
    assert rig.truth() == 150 == result.position


def test_the_region_is_checked():
    assert check_roi([0.1, 0.2, 0.3, 0.4]) == (0.1, 0.2, 0.3, 0.4)
    for bad, words in (((0.5, 0.5, 0.6, 0.2), "end inside"), ((1.2, 0, 0.1, 0.1), "inside"),
                       ((0, 0, 0.01, 0.5), "at least"), ((0, 0, 0.5), "four numbers"),
                       (("a", 0, 0.5, 0.5), "four numbers"), ((0, 0, math.nan, 0.5), "finite")):
        with pytest.raises(ValueError, match=words):
            check_roi(bad)
    rig = Rig()
    with pytest.raises(ValueError):
        autofocus(rig.lens, roi=(0.9, 0.9, 0.5, 0.5))
    assert rig.lens.frames == 1      # refused before anything moved or was looked at


def test_peak_fits():
    xs = np.arange(0, 41, 5.0)
    gauss = 40 * np.exp(-0.5 * ((xs - 17.3) / 9) ** 2) + 0.5
    fit = fit_peak(xs, gauss)
    assert fit is not None and abs(fit.center - 17.3) < 0.5 and fit.error < 1
    assert fit_peak(xs, np.exp(-xs / 10)) is None            # no peak: falls all the way
    vee = np.log(300 * np.exp(-np.abs(np.arange(0, 408, 52) - 222.0) / 40))
    assert abs(v_peak(np.arange(0, 408, 52), vee) - 222) < 1
    assert v_peak([0, 52, 104], [3.0, 2.0, 1.0]) == 0        # at the end: the end
