"""The OLED unplugged mid-run: the rig carries on without it, says so once, and
takes it back when it answers again.

The device is luma's real ``ssd1306`` on luma's real ``i2c`` interface; only
the bus under them is a stand-in (the smbus2 surface luma calls), whose
writes fail with the kernel's "Remote I/O error" (-121) while the OLED is
unplugged, as an SSD1306 that does not acknowledge its address does.  luma
then raises OSError for frame data and DeviceNotFoundError for commands.
"""

import errno
import logging
from dataclasses import replace

from luma.oled.device import ssd1306

from rig.app import App, load_state
from rig.clock import VirtualClock
from rig.config import load_config
from rig.display import DisplayLoop, View, open_device
from rig.sequencer import Activity, Edge, Point, Transition
from rig.sim import DEFAULT_PROFILE, SimBody, known_calibration, load_profile
from rig.store import Store

from test_display import BASE


class Bus:
    """An I2C bus with one SSD1306 on it that can be pulled off."""

    def __init__(self):
        self.plugged = True
        self.writes = []          # (address, control byte, bytes) the OLED took

    def write_i2c_block_data(self, address, control, data):
        if not self.plugged:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        self.writes.append((address, control, bytes(data)))

    def data_bytes(self):
        return sum(len(d) for _, c, d in self.writes if c == 0x40)


def _oled(bus, opened, tries=None):
    """rig's own open_device on ``bus``; keeps each try and what opened."""
    config = load_config()["display"]

    def reopen():
        if tries is not None:
            tries.append(bus.plugged)
        device = open_device(config, bus=bus)
        opened.append(device)
        return device
    return reopen


def test_the_display_loop_survives_an_unplugged_oled_and_reattaches(caplog):
    caplog.set_level(logging.DEBUG, logger="rig.display")
    clock = VirtualClock()
    bus, opened, tries = Bus(), [], []
    reopen = _oled(bus, opened, tries)
    tr = Transition("play", 0, 1, 50, 300, t0=0.0, duration=60.0)   # a long countdown
    state = {"s": replace(BASE, activity=Activity.MOVING, transition=tr)}
    loop = DisplayLoop(clock, reopen(), lambda: View(state["s"], clock.now()), reopen=reopen,
                       reattach_s=(1.0, 2.0, 5.0))
    task = clock.spawn(loop.run, name="display")
    clock.sleep(1.0)
    assert bus.data_bytes() > 0 and loop.lost == 0
    frames = loop.frames

    bus.plugged = False                       # pulled off the header
    clock.sleep(20.0)
    assert not task.finished                  # the loop runs on
    assert loop.device is None and loop.lost == 1
    assert loop.frames > frames + 300         # still rendering (the GIF, the tests)
    lost = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lost) == 1 and "running without a screen" in lost[0].getMessage()
    # Tries after 1, 2, 5, 5, 5 seconds (at 1, 3, 8, 13, 18 s): each failed on its
    # first command, before luma made a device (and its exit hook).
    assert tries == [True] + [False] * 5 and len(opened) == 1
    assert opened[0].persist                  # its exit hook will not blank the panel

    bus.plugged = True
    before = bus.data_bytes()
    clock.sleep(5.0)                          # within one backoff step
    assert loop.device is opened[-1] and loop.device is not opened[0]
    assert bus.data_bytes() > before          # frames reach the panel again
    assert any("OLED attached again" in r.getMessage() for r in caplog.records)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    loop.stop()
    task.join()
    loop.close("test over")
    assert loop.device.persist and isinstance(loop.device, ssd1306)
    assert bus.writes[-1][1] == 0x40          # the stopped screen's data went out last
    # At exit luma cleans up every device it made: none may blank the panel.
    written = len(bus.writes)
    for device in opened:
        device.cleanup()
    assert len(bus.writes) == written


def test_an_oled_missing_at_boot_is_attached_when_it_answers():
    clock = VirtualClock()
    bus, opened = Bus(), []
    bus.plugged = False
    loop = DisplayLoop(clock, None, lambda: View(BASE, clock.now()), reopen=_oled(bus, opened),
                       reattach_s=(1.0, 2.0))
    task = clock.spawn(loop.run, name="display")
    clock.sleep(4.0)
    assert loop.device is None and len(opened) == 0      # each try failed in the constructor
    bus.plugged = True
    clock.sleep(2.5)
    assert loop.device is not None and bus.data_bytes() > 0
    loop.stop()
    task.join()


def test_the_rig_plays_on_with_its_oled_unplugged(tmp_path):
    """A pull on the thumb while the OLED is gone runs as it would with it."""
    config = load_config()
    clock = VirtualClock()
    profile = load_profile(DEFAULT_PROFILE)
    store = Store(tmp_path)
    store.save_calibration(known_calibration(profile))
    store.save_sequence((Point(100), Point(300, 1.5)))
    bus, opened = Bus(), []
    reopen = _oled(bus, opened)
    app = App(clock, SimBody(profile, clock).session, store,
              state=load_state(store, config.ui, config.bindings),
              display_device=reopen(), display_reopen=reopen)
    app.start()
    try:
        assert app.wait_idle(until=clock.now() + 600)
        bus.plugged = False
        clock.sleep(1.0)
        app.post(Edge("thumb", True, clock.now()))
        app.post(Edge("thumb", False, clock.now() + 0.08))
        clock.sleep(0.5)
        assert app.state.transition is not None         # the pull runs
        assert app.wait_idle(until=clock.now() + 60)
        assert app.state.index == 1 and app.state.position == 300
        assert app.alive() and app.display.device is None and app.display.lost == 1
        bus.plugged = True
        clock.sleep(6.0)
        assert app.display.device is not None
    finally:
        app.stop()
    # The stopped screen went to the panel that came back, and stays on it.
    assert app.display.device.persist and bus.writes[-1][1] == 0x40
