"""On the real rig only: RIG_HARDWARE=1 make test (camera on USB, OLED, buttons).

These touch real devices, so CI skips them.  They check that the production
paths open what the simulator stands in for.
"""

import pytest

from rig.clock import MonotonicClock
from rig.config import load_config

pytestmark = pytest.mark.hardware


def test_real_camera_connects_and_drives():
    import gphoto2 as gp

    from rig.lens import Lens
    clock = MonotonicClock()
    lens = Lens(gp.Camera(), clock)
    lens.connect()
    assert lens.camera_model and lens.lens_name
    lens.send(1, +1)
    lens.send(1, -1)
    assert len(lens.frame()) > 1000
    lens.camera.exit()


def test_real_oled_shows_a_frame():
    from rig.display import View, open_device, render
    from rig.sequencer import initial_state
    device = open_device(load_config()["display"])
    device.display(render(View(initial_state(), 0.0)))
    device.cleanup()


def test_real_buttons_open_on_their_pins():
    from rig.buttons import Buttons
    events = []
    config = load_config()
    buttons = Buttons(config.buttons, events.append, MonotonicClock(), encoder=config.encoder)
    assert set(buttons.devices) == set(config.buttons)
    buttons.close()
