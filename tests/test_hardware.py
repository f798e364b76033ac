"""On the real rig only: ``RIG_HARDWARE=1 make test`` (camera on USB, OLED, buttons).

The automatic part of docs/hardware-test.md.  Set up as it says: the lens on
AF, a still, detailed scene in front of the camera, the camera on a tripod,
and rig's own service stopped (``sudo systemctl stop rig``: one program at a
time may own the camera).  The lens is calibrated first (``rig calibrate``):
the checks that plan moves use that calibration.  With
``RIG_PROBE_PROFILE=the profile rig probe wrote``, the frame rate is held to
the probe's measurement.

These touch real devices, so CI skips them.  Each check is a function of a
connected :class:`rig.lens.Lens`, so tests/test_hardware_sim.py runs the
very same checks on the simulator, where they are shown to pass and to fail.
"""

from __future__ import annotations

import os
import statistics

import pytest

from rig.clock import MonotonicClock
from rig.config import find_config, load_config
from rig.lens import FAR, NEAR, Lens

pytestmark = pytest.mark.hardware

SETTLE_S = 1.0        # after a command, before a frame: any lens has stopped by then
FRAMES = 20


# ------------------------------------------------------------------ the checks


def _port(lens: Lens):
    """The probe's view of the pictures: signatures, and the noise between frames at rest."""
    from rig.probeport import Port, ProbeSettings
    port = Port(lens, ProbeSettings())
    lens.clock.sleep(SETTLE_S)
    port.learn_noise([port.shot().data for _ in range(8)])
    return port


def check_connects(lens: Lens) -> tuple[str, str]:
    lens.connect()
    assert lens.camera_model, "the camera gave no model name"
    assert lens.drive is not None, "no focus drive found"
    return lens.camera_model, lens.lens_name


def check_drives_both_ways(lens: Lens) -> float:
    """Two largest commands far, then two near: the picture changes, and comes back.

    Returns how far the picture moved, in units of the noise between frames.
    """
    port = _port(lens)
    big = max(lens.caps.sizes)

    def moves(direction: int) -> None:
        for _ in range(2):
            lens.send(big, direction)
            lens.clock.sleep(SETTLE_S)

    moves(NEAR)                # away from the far stop, should the lens sit there
    before = port.rest(3)
    moves(FAR)
    after = port.rest(3)
    moves(NEAR)
    back = port.rest(3)
    away = port.apart(before, after) / port.noise
    assert away > 3.0, (f"the picture did not change when the lens was driven ({away:.1f} x "
                        "the noise): lens switch on MF, or nothing detailed in the picture")
    assert port.apart(before, back) < 0.5 * port.apart(before, after), \
        "the picture did not come back when the lens was driven back"
    return away


def frame_time(lens: Lens, frames: int = FRAMES) -> float:
    """Median interval of back-to-back live-view frames, seconds."""
    starts = []
    for _ in range(frames):
        starts.append(lens.clock.now())
        lens.frame()
    return statistics.median(b - a for a, b in zip(starts, starts[1:]))


def check_frame_rate(lens: Lens, expected_ms: float | None = None) -> float:
    """Frames arrive at the measured rate: the probe's, or a second run's, within 10 %."""
    first = frame_time(lens)
    expected = expected_ms / 1000.0 if expected_ms else frame_time(lens)
    assert abs(first - expected) <= 0.1 * expected, (
        f"frames come every {1000 * first:.0f} ms, not {1000 * expected:.0f} ms")
    return first


def check_homing_ends_still(lens: Lens, calibration) -> None:
    """Homing ends at the near stop, at rest: the picture holds, and one more command
    toward the stop changes nothing."""
    lens.model = calibration.model()
    lens.home()
    port = _port(lens)
    still = port.rest(3)
    lens.clock.sleep(SETTLE_S)
    assert port.still(still, port.rest(3)), "the picture still changes after homing"
    lens.send(max(lens.caps.sizes), NEAR)
    lens.clock.sleep(SETTLE_S)
    assert port.still(still, port.rest(3)), \
        "a command toward the near stop moved the lens after homing: it was not at the stop"


def check_sequence_returns(lens: Lens, calibration, rounds: int = 3) -> float:
    """Point A, point B, back to A, a few times: the live view at A is the same each time
    (the scene is still).  Returns the worst difference, against A to B's."""
    lens.model = calibration.model()
    lens.home()
    a, b = round(0.3 * calibration.steps), round(0.7 * calibration.steps)
    port = _port(lens)
    lens.move_to(a, 1.0)
    lens.wait_free()
    at_a = port.rest(3)
    worst, span = 0.0, 0.0
    for _ in range(rounds):
        lens.move_to(b, 1.0)
        lens.wait_free()
        span = max(span, port.apart(at_a, port.rest(3)))
        lens.move_to(a, 1.0)
        lens.wait_free()
        worst = max(worst, port.apart(at_a, port.rest(3)))
    assert span > 3.0 * port.noise, "A and B look the same: not a scene to judge by"
    assert worst <= max(2.0 * port.noise, 0.1 * span), (
        f"back at A the picture differs by {worst / port.noise:.1f} x the noise "
        f"({100 * worst / span:.0f} % of A against B): the lens did not return to its point")
    return worst / span


# ------------------------------------------------------------------ on the rig


@pytest.fixture(scope="module")
def lens():
    import gphoto2 as gp
    lens = Lens(gp.Camera(), MonotonicClock())
    check_connects(lens)
    yield lens
    lens.close()


@pytest.fixture(scope="module")
def calibration(lens):
    from rig.store import Store
    config = load_config(find_config(None))
    cal = Store(config.state_dir()).load_calibration(lens.camera_model, lens.lens_name)
    if cal is None:
        pytest.skip(f"no calibration of {lens.lens_name} on {lens.camera_model}: run "
                    "rig calibrate first")
    return cal


def test_real_camera_connects(lens):
    assert lens.camera_model and lens.lens_name


def test_real_lens_drives_both_ways(lens):
    check_drives_both_ways(lens)


def test_real_frames_arrive_at_the_measured_rate(lens):
    expected = None
    path = os.environ.get("RIG_PROBE_PROFILE")
    if path:
        from rig.sim import load_profile
        expected = load_profile(path).preview_ms
    check_frame_rate(lens, expected)


def test_real_homing_ends_still(lens, calibration):
    check_homing_ends_still(lens, calibration)


def test_real_sequence_returns_to_its_first_point(lens, calibration):
    check_sequence_returns(lens, calibration)


def _config():
    """The rig's own config (/etc/rig/rig.toml over the defaults), as the service reads it:
    its OLED driver and pins, not the defaults'."""
    return load_config(find_config(None))


def test_real_oled_shows_a_frame():
    """The configured OLED takes a frame (play mode's first screen) and keeps it after the
    test (docs/hardware-test.md, step 4: look at it).  An OLED that does not answer fails."""
    from rig.display import View, open_device, render
    from rig.sequencer import initial_state
    display = _config()["display"]
    if display["driver"] == "none":
        pytest.skip("display.driver is \"none\" in the config: no OLED to show a frame on")
    device = open_device(display)
    device.persist = True           # left on the panel for the eye, not cleared at exit
    try:
        device.display(render(View(initial_state(), 0.0)))
    finally:
        device.cleanup()


def test_real_thumb_pin_reads():
    """The thumb button's pin opens with its pull-up and reads released (nobody presses)."""
    from gpiozero import Button
    pin = _config().buttons["thumb"]
    button = Button(pin, pull_up=True)
    try:
        assert button.is_pressed is False, f"GPIO{pin} reads pressed: a short, or a finger"
    finally:
        button.close()


def test_real_buttons_open_on_their_pins():
    from rig.buttons import Buttons
    events = []
    config = _config()
    buttons = Buttons(config.buttons, events.append, MonotonicClock(), encoder=config.encoder)
    assert set(buttons.devices) == set(config.buttons)
    buttons.close()
