"""The simulated camera: the gphoto2 surface, real errors, and its physics."""

import dataclasses

import gphoto2 as gp
import numpy as np
import pytest

from rig.clock import VirtualClock
from rig.inputs import InputError
from rig.sim import PROFILES, DriveSpec, SimBody, load_profile
from rig.vision import focus_measure, grey


@pytest.fixture
def profile():
    """The legacy EF 24mm (whole steps, no backlash, one plane sharp at 250): these
    tests check the simulator's mechanics against its figures; the realistic
    default has its own tests below (REAL)."""
    return load_profile(PROFILES / "canon-ef24.toml")


def camera(profile, **changes):
    clock = VirtualClock()
    cam = SimBody(dataclasses.replace(profile, **changes), clock).session()
    cam.init()
    cam.capture_preview()  # live view on
    return cam, clock


def drive(cam, value):
    w = cam.get_single_config("manualfocusdrive")
    w.set_value(value)
    cam.set_single_config("manualfocusdrive", w)


def test_surface_reports_what_a_canon_reports(profile):
    cam, clock = camera(profile)
    assert "Model: Canon EOS 5D Mark III (simulated)" in str(cam.get_summary())
    assert cam.get_single_config("lensname").get_value() == profile.lens
    widget = cam.get_single_config("manualfocusdrive")
    assert widget.get_type() == gp.GP_WIDGET_RADIO
    assert "Near 3" in widget.get_choices() and "Far 1" in widget.get_choices()
    data = bytes(cam.capture_preview().get_data_and_size())
    assert data[:2] == b"\xff\xd8"  # JPEG
    for name in ("focusposition", "position"):
        with pytest.raises(gp.GPhoto2Error) as err:
            cam.get_single_config(name)
        assert err.value.code == gp.GP_ERROR_BAD_PARAMETERS


def test_a_command_moves_after_the_call_returns(profile):
    cam, clock = camera(profile)
    start = cam.truth.position(clock.now())
    drive(cam, "Far 3")
    t = clock.now()
    assert cam.truth.position(t) == start       # the call has returned...
    assert cam.truth.moving(t)                  # ...and the motor turns on
    clock.sleep(26 / 94.321 + 0.01)
    assert cam.truth.position(clock.now()) == start + 26
    assert not cam.truth.moving(clock.now())


def test_call_latency_is_the_profile_round_trip(profile):
    cam, clock = camera(profile, latency_jitter_ms=0.0)
    t = clock.now()
    drive(cam, "Near 1")
    assert clock.now() - t == pytest.approx(0.030)


@pytest.mark.parametrize("busy,moved,error", [("drop", 26, False), ("queue", 52, False),
                                              ("error", 26, True)])
def test_busy_behaviour(profile, busy, moved, error):
    cam, clock = camera(profile, busy=busy, latency_jitter_ms=0.0)
    start = cam.truth.position(clock.now())
    drive(cam, "Far 3")
    if error:
        with pytest.raises(gp.GPhoto2Error) as err:
            drive(cam, "Far 3")
        assert err.value.code == gp.GP_ERROR_CAMERA_BUSY
    else:
        drive(cam, "Far 3")
    clock.sleep(2.0)
    assert cam.truth.position(clock.now()) == start + moved


def test_stops_clamp_silently(profile):
    cam, clock = camera(profile)
    for _ in range(30):
        drive(cam, "Near 3")
        clock.sleep(0.4)
    assert cam.truth.position(clock.now()) == 0
    drive(cam, "Near 3")  # no error at the stop
    clock.sleep(0.4)
    assert cam.truth.position(clock.now()) == 0


def test_no_live_view_no_motion(profile):
    clock = VirtualClock()
    cam = SimBody(profile, clock).session()
    cam.init()
    drive(cam, "Far 3")
    clock.sleep(1.0)
    assert cam.truth.position(clock.now()) == profile.start


def test_one_call_at_a_time(profile):
    cam, clock = camera(profile)
    errors = []

    def other():
        try:
            cam.get_summary()
        except gp.GPhoto2Error as exc:
            errors.append(exc.code)

    clock.spawn(lambda: drive(cam, "Far 1"), name="first")
    clock.spawn(other, name="second")
    clock.sleep(1.0)
    assert errors == [gp.GP_ERROR_CAMERA_BUSY]


def test_unknown_drive_value_is_bad_parameters(profile):
    cam, clock = camera(profile)
    with pytest.raises(gp.GPhoto2Error) as err:
        drive(cam, "Far 9")
    assert err.value.code == gp.GP_ERROR_BAD_PARAMETERS


def test_fractional_steps_are_met_on_average(profile):
    drives = {1: DriveSpec(1, 0, 23.0), 2: DriveSpec(4.3, 0, 48.0), 3: DriveSpec(29.6, 0.0, 90.0)}
    cam, clock = camera(profile, drive=drives, start=0, steps=100000)
    for _ in range(400):
        drive(cam, "Far 2")
        clock.sleep(0.2)
    assert cam.truth.position(clock.now()) / 400 == pytest.approx(4.3, abs=0.08)


def test_the_live_view_is_sharpest_at_the_subject(profile):
    cam, clock = camera(profile, noise=2.0)
    scores = {}
    for x in (150, 230, 250, 270, 350):
        cam.truth.start = x
        cam.truth.segments.clear()
        cam.truth._t0s.clear()
        scores[x] = focus_measure(grey(bytes(cam.capture_preview().get_data_and_size())))
    assert max(scores, key=scores.get) == 250
    assert scores[230] > scores[150] and scores[270] > scores[350]


def test_seeded_and_deterministic(profile):
    def run():
        cam, clock = camera(profile)
        for v in ("Far 3", "Near 2", "Far 1"):
            drive(cam, v)
            clock.sleep(0.5)
        return bytes(cam.capture_preview().get_data_and_size()), clock.now()
    assert run() == run()


@pytest.mark.parametrize("text,where", [
    ("stepz = 3\n", "stepz"),
    ("steps = -5\n", "steps"),
    ("busy = \"sometimes\"\n", "busy"),
    ("start = 9999\n", "start"),
    ("[drive.4]\nsteps = 1\nspeed = 1\n", "drive.4"),
    ("[drive.2]\nsteps = 4.0\nspeed = 0\n", "drive.2.speed"),
])
def test_profile_errors_name_the_key(tmp_path, text, where):
    # The legacy profile's text, whose lines this cuts and adds to: the messages,
    # not the lens, are what this is about.
    base = (PROFILES / "canon-ef24.toml").read_text()
    lines = [ln for ln in base.splitlines()
             if not any(ln.startswith(k) for k in ("steps =", "start =", "busy ="))
             or not text.startswith(ln.split("=")[0].strip())]
    body = "\n".join(lines) + "\n"
    if text.startswith("["):
        body = body.replace("[drive.2]\nsteps = 4.0\njitter = 0.0\nspeed = 48.733\n", "") \
            if "drive.2" in text else body
        body += text
    else:
        body = text + body
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        load_profile(path)
    message = str(err.value)
    assert str(path) in message and where in message
    assert err.value.line is not None


def test_profile_syntax_error_has_a_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('vendor = "canon"\nlens = \n')
    with pytest.raises(InputError) as err:
        load_profile(path)
    assert f"{path}:2:" in str(err.value)


# ------------------------------------------------ the realistic lens (issue 13)

REAL = PROFILES / "canon-ef24-real.toml"


def real(**changes):
    """The realistic EF 24mm, small frames (the physics does not care)."""
    return dataclasses.replace(load_profile(REAL), width=240, height=160, **changes)


def drives_of(*specs):
    return {k: spec for k, spec in enumerate(specs, start=1)}


WHOLE = drives_of(DriveSpec(1, 0, 23.496), DriveSpec(4, 0, 48.733), DriveSpec(26, 0, 94.321))


def test_every_shipped_profile_loads_and_the_realistic_ones_are_canon_at_10_fps():
    names = sorted(p.name for p in PROFILES.glob("*.toml"))
    assert len(names) >= 13
    for name in names:
        profile = load_profile(PROFILES / name)
        if profile.optics is not None:
            assert profile.vendor == "canon" and profile.preview_ms == 100
            assert (profile.width, profile.height) == (960, 640)
            assert profile.busy == "queue" and profile.queue_depth is not None
            assert 0 < profile.backlash <= 5 and len(profile.layers) == 2
            assert profile.drive[1].steps == 1 and profile.drive[1].steps_far in (None, 1.0)
            for size in (2, 3):
                spec = profile.drive[size]
                assert abs(spec.steps_far / spec.steps - 1) <= 0.08
            mfd = profile.optics.min_focus_m
            subject, background = profile.layers[-1], profile.layers[0]
            assert mfd < subject.distance_m <= 3 * mfd + 1
            assert background.distance_m > subject.distance_m
            assert 0 < profile.subject < profile.steps


@pytest.mark.parametrize("x,direction", [(0.0, 1), (200.0, 1), (380.0, -1), (407.0, -1)])
def test_a_command_moves_the_midpoint_mean_the_planner_expects(x, direction):
    from rig.planner import Drive, LensModel
    spec = DriveSpec(26.0, 0.0, 94.321, steps_far=29.0)
    profile = real(drive=drives_of(DriveSpec(1.0, 0.0, 23.5), DriveSpec(4.0, 0.0, 48.7), spec),
                   start=int(x), backlash=0.0)
    cam, clock = camera(profile, latency_jitter_ms=0.0)
    drive(cam, "Far 3" if direction > 0 else "Near 3")
    clock.sleep(1.0)
    moved = abs(cam.truth.position(clock.now()) - x)
    model = LensModel(407, (Drive(3, 26.0, 26.0 / 94.321, steps_far=29.0),))
    expected = model.step_at(3, x, direction)
    g = 3.0 / 407
    assert expected == pytest.approx((26.0 + g * x) / (1 - direction * g / 2))
    if 0 < x + direction * expected < 407:
        assert moved == pytest.approx(expected, abs=1e-9)
    else:
        assert moved == pytest.approx(407 - x if direction > 0 else x)   # clamped at the stop


def test_a_size_turns_as_long_everywhere_and_the_lens_is_faster_where_steps_are_larger():
    spec = DriveSpec(26.0, 0.0, 94.321, steps_far=30.0)
    times, moves = [], []
    for start in (10, 350):
        cam, clock = camera(real(drive=drives_of(DriveSpec(1, 0, 23.5), DriveSpec(4, 0, 48.7),
                                                 spec), start=start, backlash=0.0),
                            latency_jitter_ms=0.0)
        drive(cam, "Far 3")
        t = clock.now()
        times.append(cam.truth.settled_at() - t)
        moves.append(cam.truth.position(t + 5) - start)
    assert times[0] == pytest.approx(times[1]) == pytest.approx(26.0 / 94.321)
    assert moves[1] > moves[0] > 26.0


def test_whole_steps_without_spread_repeat_exactly_and_jitter_gives_continuous_positions():
    cam, clock = camera(real(drive=drives_of(DriveSpec(1, 0, 23.5), DriveSpec(4, 0, 48.7),
                                             DriveSpec(26, 0, 94.3)), backlash=0.0, start=100))
    for _ in range(5):
        drive(cam, "Far 2")
        clock.sleep(0.3)
    assert cam.truth.position(clock.now()) == 120.0
    cam, clock = camera(real(start=0, steps=100000, backlash=0.0,
                             drive=drives_of(DriveSpec(1, 0, 23.5), DriveSpec(4.3, 0.5, 48.7),
                                             DriveSpec(26, 1.0, 94.3))))
    positions = []
    for _ in range(200):
        drive(cam, "Far 2")
        clock.sleep(0.2)
        positions.append(cam.truth.position(clock.now()))
    steps = [b - a for a, b in zip([0.0] + positions, positions)]
    assert sum(1 for s in steps if not float(s).is_integer()) > 190
    assert sum(steps) / len(steps) == pytest.approx(4.3, abs=0.1)
    assert 0.4 < float(np.std(steps)) < 0.6


def test_backlash_the_lens_waits_while_the_motor_takes_up_the_play():
    cam, clock = camera(real(backlash=3.0, start=200, drive=drives_of(
        DriveSpec(1, 0, 23.5), DriveSpec(4, 0, 48.7), DriveSpec(26, 0, 94.3))),
        latency_jitter_ms=0.0)
    drive(cam, "Far 2")               # takes up the play toward far first
    clock.sleep(0.5)
    drive(cam, "Far 2")               # same direction: nothing lost
    clock.sleep(0.5)
    x = cam.truth.position(clock.now())
    drive(cam, "Far 2")
    clock.sleep(0.5)
    assert cam.truth.position(clock.now()) - x == pytest.approx(4.0)
    x = cam.truth.position(clock.now())
    drive(cam, "Near 2")              # reversal: 3 of its 4 steps take up the play
    t = clock.now()
    assert cam.truth.position(t + 2.5 / 48.7) == x     # the lens has not moved yet
    clock.sleep(0.5)
    assert x - cam.truth.position(clock.now()) == pytest.approx(1.0)
    drive(cam, "Near 1")
    clock.sleep(0.5)
    assert x - cam.truth.position(clock.now()) == pytest.approx(2.0)
    drive(cam, "Far 1")               # a reversal smaller than the play: no motion at all
    clock.sleep(0.5)
    assert x - cam.truth.position(clock.now()) == pytest.approx(2.0)
    assert cam.truth.reversals == 2


def test_backlash_is_a_consistent_loss_on_every_move_from_a_to_b():
    cam, clock = camera(real(backlash=5.0, start=100, drive=WHOLE))
    legs = []
    for _ in range(3):
        for value in ("Far 3", "Near 3"):
            x = cam.truth.position(clock.now())
            for _ in range(4):
                drive(cam, value)
                clock.sleep(0.4)
            legs.append(cam.truth.position(clock.now()) - x)
    # four size-3 commands (104 steps), 5 lost on each reversal, every time
    assert legs[1:] == pytest.approx([-99.0, 99.0, -99.0, 99.0, -99.0])


def test_a_queue_deeper_than_the_camera_takes_makes_it_stop_answering():
    cam, clock = camera(real(queue_depth=3, backlash=0.0, drive=WHOLE), latency_jitter_ms=0.0)
    for _ in range(3):               # the third arrives with 2 outstanding: fine
        drive(cam, "Far 3")
    assert cam.body.outstanding(clock.now()) == 3
    with pytest.raises(gp.GPhoto2Error) as err:
        drive(cam, "Far 3")          # a fourth with 3 outstanding: the camera hangs
    assert err.value.code == gp.GP_ERROR_IO
    assert cam.truth.overflows == 1
    for call in (cam.get_summary, cam.capture_preview, lambda: drive(cam, "Near 1")):
        with pytest.raises(gp.GPhoto2Error) as err:
            call()
        assert err.value.code == gp.GP_ERROR_IO
    clock.sleep(2.0)                 # still hung once the lens has stopped
    with pytest.raises(gp.GPhoto2Error):
        cam.get_summary()
    again = cam.body.session()       # until a new session
    again.init()
    assert "Canon" in str(again.get_summary())
    assert cam.truth.position(clock.now()) == pytest.approx(180 + 3 * 26.0)  # 3 ran
    with pytest.raises(gp.GPhoto2Error):
        cam.get_summary()            # the old session stays dead


def test_without_queue_depth_a_queue_has_no_limit():
    cam, clock = camera(real(busy="queue", queue_depth=None, backlash=0.0, start=0, drive=WHOLE))
    for _ in range(8):
        drive(cam, "Far 3")
    clock.sleep(5.0)
    assert cam.truth.position(clock.now()) == pytest.approx(8 * 26.0)
    assert cam.truth.overflows == 0


def test_frames_have_the_profile_size_and_take_the_profile_time():
    profile = load_profile(REAL)
    clock = VirtualClock()
    cam = SimBody(profile, clock).session()
    cam.init()
    t = clock.now()
    data = bytes(cam.capture_preview().get_data_and_size())
    first = clock.now() - t
    t = clock.now()
    cam.capture_preview()
    assert clock.now() - t == pytest.approx(0.100, abs=0.002)
    assert first == pytest.approx(0.400, abs=0.002)          # live view starting: 4x
    assert grey(data, 960).shape == (640, 960)


def test_flicker_changes_the_brightness_frame_to_frame_by_its_sigma():
    def means(flicker):
        cam, clock = camera(real(flicker=flicker, noise=0.0))
        return [grey(bytes(cam.capture_preview().get_data_and_size()), 240).mean()
                for _ in range(40)]
    steady, flickering = means(0.0), means(0.03)
    assert np.std(steady) < 0.05
    relative = np.std(flickering) / np.mean(flickering)
    assert 0.018 < relative < 0.045
