"""The lens layer, run unchanged against the simulated camera."""

import dataclasses

import pytest

from rig.clock import VirtualClock
from rig.calibrate import calibrate
from rig.drives import NearFarDrive
from rig.lens import Lens, LensError
from rig.planner import Drive, LensModel, plan_move
from rig.sim import DEFAULT_PROFILE, DriveSpec, SimBody, load_profile

TRUE_MODEL = LensModel(407, (Drive(1, 1.0, 0.060, 1 / 23.496), Drive(2, 4.0, 0.11, 4 / 48.733),
                             Drive(3, 26.0, 0.30, 26 / 94.321)), latency=0.030)


# The legacy EF 24mm, where TRUE_MODEL is the truth (whole steps, no backlash) and
# one plane's blur_per_step sets the scene: for the tests of the executor's
# timing and of calibration on a short or flat plane, not of the default lens.
LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"


def connected(path=DEFAULT_PROFILE, **changes):
    clock = VirtualClock()
    profile = dataclasses.replace(load_profile(path), **changes)
    cam = SimBody(profile, clock).session()
    lens = Lens(cam, clock)
    lens.connect()
    return lens, cam, clock


def test_connect_learns_only_what_the_camera_says():
    lens, cam, clock = connected()
    assert lens.camera_model == "Canon EOS 5D Mark III (simulated)"
    assert lens.lens_name == "Canon EF 24mm f/2.8 IS USM"
    assert isinstance(lens.drive, NearFarDrive) and lens.caps.family == "canon"
    assert lens.position is None  # the start position is not told


@pytest.mark.parametrize("start", [0, 17, 180, 406, 407])
def test_homing_reaches_the_near_stop_from_anywhere(start):
    lens, cam, clock = connected(LEGACY, start=start)
    lens.model = TRUE_MODEL
    lens.home()
    assert lens.position == 0
    assert cam.truth.position(clock.now()) == 0
    assert not cam.truth.moving(clock.now())


def test_commands_take_effect_at_their_deadlines():
    lens, cam, clock = connected(LEGACY, latency_jitter_ms=0.0)
    lens.model = TRUE_MODEL
    lens.home()
    for _ in range(20):  # let the latency estimate settle
        lens.frame()
    plan = plan_move(0, 200, 5.0, TRUE_MODEL)
    t0 = clock.now() + 0.1
    first_segment = len(cam.truth.segments)
    run = lens.execute(plan, t0)
    starts = [s.t0 - t0 for s in cam.truth.segments[first_segment:]]
    assert starts == pytest.approx([c.t for c in plan.commands], abs=0.002)
    assert run.late == 0
    assert cam.truth.position(clock.now() + 1) == 200 == lens.position


def test_a_late_start_shifts_the_plan_instead_of_squeezing_it():
    lens, cam, clock = connected(LEGACY, busy="drop")
    lens.model = TRUE_MODEL
    lens.home()
    plan = plan_move(0, 300, 0.0, TRUE_MODEL)
    lens.execute(plan, clock.now() - 2.0)  # its start is long past
    assert cam.truth.dropped == 0
    assert cam.truth.position(clock.now() + 1) == 300


def test_a_camera_that_cannot_drive_focus_is_refused():
    clock = VirtualClock()
    cam = SimBody(load_profile(DEFAULT_PROFILE), clock).session()
    original = cam._widget

    def no_drive(name):
        if name == "manualfocusdrive":
            import gphoto2 as gp
            raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        return original(name)

    cam._widget = no_drive
    with pytest.raises(LensError, match="cannot drive focus"):
        Lens(cam, clock).connect()


def test_calibration_recovers_the_legacy_lens():
    """The legacy EF 24mm's whole steps, exactly (the realistic default's
    spread and steps that grow along the range are tests/test_calfit.py's
    and bench/lens_zoo.py's)."""
    lens, cam, clock = connected(LEGACY)
    cal = calibrate(lens)
    steps = {d.size: d.steps for d in cal.drive}
    assert cal.steps == 407
    assert steps == {1: 1.0, 2: 4.0, 3: 26.0}
    # Speeds are sustained speeds: never faster than the lens really moves.
    true = {1: 23.496, 2: 48.733, 3: 94.321}
    for d in cal.drive:
        assert 0.5 * true[d.size] < d.speed <= true[d.size]
        assert d.move_s == pytest.approx(d.steps / true[d.size], rel=0.1)
        # This lens's commands do not spread (the old calibrate saw up to 0.67).
        assert d.jitter <= 0.25
    assert lens.position == 0 and cam.truth.position(clock.now()) == 0


def test_calibration_on_the_seed_that_lost_the_lens():
    """Seed 4 of the legacy EF 24mm once failed: 'lost the lens during the
    speed measurement'."""
    lens, cam, clock = connected(LEGACY, seed=4)
    cal = calibrate(lens)
    assert cal.steps == 407
    assert {d.size: d.steps for d in cal.drive} == {1: 1.0, 2: 4.0, 3: 26.0}
    true = {1: 23.496, 2: 48.733, 3: 94.321}
    for d in cal.drive:
        # Never shorter than the real motion (commands sent into a moving lens
        # are lost); size 2 here measures a small spread that is not there
        # (0.13) and so comes out 10 % long: see bench/calibration_seeds.py.
        assert 1.0 <= d.move_s / (d.steps / true[d.size]) <= 1.12
    assert cal.drive[0].move_s == pytest.approx(1 / true[1], rel=0.1)


def test_calibration_of_a_short_lens(tmp_path):
    """A lens of only 60 steps with a strong blur: no room to spare anywhere."""
    lens, cam, clock = connected(LEGACY, steps=60, start=40, subject=30, blur_per_step=0.2,
                                 latency_ms=5.0, latency_jitter_ms=0.5,
                                 drive={1: DriveSpec(1, 0, 100.0), 2: DriveSpec(3, 0, 200.0),
                                        3: DriveSpec(10, 0, 400.0)})
    cal = calibrate(lens)
    assert cal.steps == 60
    assert {d.size: d.steps for d in cal.drive} == {1: 1.0, 2: 3.0, 3: 10.0}


def test_calibration_fails_clearly_on_a_flat_scene():
    lens, cam, clock = connected(LEGACY, blur_per_step=0.0, noise=0.5)
    cam.body._scene[:] = 128
    cam.body._blurred.clear()
    with pytest.raises(LensError, match="detail|still"):
        calibrate(lens)


def test_the_transition_log_line_says_what_is_known():
    lens, cam, clock = connected(LEGACY, latency_jitter_ms=0.0)
    lens.model = TRUE_MODEL
    lens.home()
    plan = plan_move(0, 150, 3.0, TRUE_MODEL)
    run = lens.execute(plan, clock.now() + lens.lead)
    line = run.describe(plan, "play point 1 -> point 2")
    assert line.startswith("play point 1 -> point 2: 0 -> 150 steps, linear, planned 3.000 s")
    assert "no feedback from this camera" in line and "0 late" in line
    assert abs(run.duration_error_s) < 0.01 and f"{run.commands} commands" in line
    assert len(run.lateness) == run.commands


# The realistic lens (issue 13): steps that vary along the range, and backlash.
from rig.planner import Play  # noqa: E402

REAL_MODEL = LensModel(407, (Drive(1, 1.0, 0.060, 1 / 23.496),
                             Drive(2, 4.0, 0.11, 4 / 48.733, steps_far=4.5),
                             Drive(3, 26.0, 0.30, 26 / 94.321, steps_far=23.5)),
                       latency=0.030, backlash=2.4)


def test_the_position_counts_the_steps_where_the_lens_is_and_the_play():
    lens, cam, clock = connected()
    lens.model = REAL_MODEL
    lens.home()
    assert lens.position == 0 and lens.play == Play.taken_up(2.4, -1)  # homed: toward near
    lens.wait_free()
    lens.send(3, +1)                     # a reversal: the motor takes up the play first
    first = REAL_MODEL.step_at(3, 0.0, +1) - 2.4
    assert lens.position == pytest.approx(first) and lens.play.toward == +1
    lens.wait_free()
    lens.send(3, +1)
    assert lens.position == pytest.approx(first + REAL_MODEL.step_at(3, first, +1))
    here = lens.position
    for _ in range(2):                   # back the other way: 2 of the 2.4 steps, no motion
        lens.wait_free()
        lens.send(1, -1)
    assert lens.position == pytest.approx(here)
    assert lens.play.slack(-1) == pytest.approx(0.4)
    lens.wait_free()
    lens.send(1, -1)
    assert lens.position == pytest.approx(here - 0.6)


def test_the_play_is_taken_up_before_the_next_pull_and_its_plan_is_ready():
    lens, cam, clock = connected()
    lens.model = REAL_MODEL
    lens.home()
    lens.move_to(300)                     # toward far: its own plan takes up the play first
    assert lens.position == pytest.approx(300, abs=0.05) and lens.play.toward == +1
    here, sent = lens.position, lens.commands
    ready = lens.prepare(120, 5.0)        # the next pull goes back toward near
    assert lens.commands - sent == 2      # floor(2.4) unit commands ...
    assert lens.position == here          # ... that leave the lens where it is
    assert lens.play.slack(-1) == pytest.approx(0.4)
    assert ready is not None and ready.slack == pytest.approx(0.4) and ready.takeup == 0
    # The core plans without knowing the play; the executor runs the prepared plan.
    core = plan_move(300, 120, 5.0, REAL_MODEL)
    assert core.slack == 0
    clock.sleep(1.0)
    run = lens.execute(core, clock.now() + 0.05)
    assert run.plan is ready and run.planned_s == pytest.approx(5.0)
    assert lens.position == pytest.approx(120, abs=0.05)
    assert lens.play.toward == -1


def test_a_pull_whose_play_was_not_taken_up_takes_it_up_first_on_time():
    # The legacy lens: its motion starts when a command does, so the segments'
    # starts are the commands' deadlines.  On the realistic default the sim's
    # 2 steps of play swallow the first take-up step, and the lens starts
    # moving 1 / 23.496 s = 0.0426 s after the command that took it up.
    lens, cam, clock = connected(LEGACY, latency_jitter_ms=0.0)
    lens.model = REAL_MODEL
    lens.home()
    for _ in range(20):  # let the latency estimate settle
        lens.frame()
    lens.move_to(250)
    plan = plan_move(250, 100, 4.0, REAL_MODEL)     # made as if the play were taken up
    clock.sleep(1.0)
    first = len(cam.truth.segments)
    t0 = clock.now() + 0.05
    run = lens.execute(plan, t0)
    assert run.plan is not plan and run.plan.takeup == 2 and run.plan.duration_s == 4.0
    starts = [s.t0 - t0 for s in cam.truth.segments[first:]]
    assert starts == pytest.approx([c.t for c in run.plan.commands], abs=0.002)
    assert lens.position == pytest.approx(100, abs=0.05)


def test_a_press_during_the_take_up_stops_it_before_the_next_command():
    """The stop is asked again once the last command's motion has ended, before the next."""
    lens, cam, clock = connected()
    lens.model = REAL_MODEL
    lens.home()
    lens.move_to(300)
    sent = lens.commands
    asked: list[float] = []

    def stop():
        asked.append(clock.now())
        return len(asked) > 1      # a press lands while the move's last motion ends
    assert lens.take_up(-1, stop) == 0 and lens.commands == sent
    assert asked[1] >= lens.free_at       # asked again after waiting for the lens


def test_homing_zeroes_the_uncertainty_and_commands_spread_it_by_their_calibrated_size():
    lens, cam, clock = connected()
    lens.model = REAL_MODEL
    lens.jitter = {1: 0.0, 2: 0.4, 3: 2.0}
    lens.home()
    assert lens.uncertainty == 0.0 and lens.trusted
    for _ in range(4):
        lens.wait_free()
        lens.send(3, +1)
    assert lens.uncertainty == pytest.approx(2.0 * 2, rel=1e-3)   # 2.0 * sqrt(4)
    lens.fix_position(lens.position, sigma=0.0)          # the picture: never zero
    assert lens.uncertainty == pytest.approx(0.5, rel=1e-3)
    lens.home()
    assert lens.uncertainty == 0.0
