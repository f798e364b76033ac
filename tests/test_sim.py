"""The simulated camera: the gphoto2 surface, real errors, and its physics."""

import dataclasses

import gphoto2 as gp
import pytest

from rig.clock import VirtualClock
from rig.inputs import InputError
from rig.sim import DEFAULT_PROFILE, DriveSpec, SimBody, load_profile
from rig.vision import focus_measure, grey


@pytest.fixture
def profile():
    return load_profile(DEFAULT_PROFILE)


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
    base = DEFAULT_PROFILE.read_text()
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
