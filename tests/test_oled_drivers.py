"""The OLED by name: ssd1306, sh1106 and ssd1309 from luma's own device factory.

``[display] driver`` takes any name luma.oled's command line knows
(``luma.core.cmdline``); rig makes the device as luma's ``create_device``
does, on its own I2C interface.  Each driver here runs luma's real code on
luma's real ``i2c`` interface over a stand-in bus that plays the panel's
memory: what reaches the panel, decoded back into a picture, must be the
frame rig drew.
"""

from dataclasses import replace

import pytest
from luma.core import cmdline
from PIL import Image, ImageChops

from rig.cli import main
from rig.clock import VirtualClock
from rig.config import load_config, oled_drivers
from rig.display import DisplayLoop, View, luma_args, open_device, render
from rig.sequencer import Mode

from test_display import BASE


class Panel:
    """An I2C bus with a page-addressed OLED controller on it (SSD130x / SH110x).

    It understands the commands luma sends with a frame: a column and page
    window (0x21, 0x22: horizontal addressing, SSD130x) or a page and column
    (0xB0+page, low and high column nibbles: page addressing, SH1106), and
    keeps the bytes it is sent in its display memory.
    """

    def __init__(self, columns=132, pages=8):
        self.ram = [[0] * columns for _ in range(pages)]
        self.window = None             # (c0, c1, p0, p1) in horizontal mode
        self.page = self.column = 0
        self.writes = 0

    def write_i2c_block_data(self, address, control, data):
        self.writes += 1
        data = list(data)
        if control == 0x00:
            self._command(data)
        else:
            for byte in data:
                self._data(byte)

    def _command(self, cmd):
        if cmd[0] == 0x21 and len(cmd) >= 6 and cmd[3] == 0x22:
            self.window = (cmd[1], cmd[2], cmd[4], cmd[5])
            self.column, self.page = cmd[1], cmd[4]
        elif 0xB0 <= cmd[0] <= 0xB7 and len(cmd) == 3:
            self.window = None
            self.page = cmd[0] & 0x0F
            self.column = (cmd[1] & 0x0F) | ((cmd[2] & 0x0F) << 4)

    def _data(self, byte):
        self.ram[self.page][self.column] = byte
        self.column += 1
        if self.window is not None and self.column > self.window[1]:
            self.column = self.window[0]
            self.page = self.page + 1 if self.page < self.window[3] else self.window[2]

    def picture(self, offset=0, width=128, height=64):
        """What the panel shows: its memory from column ``offset``, as a 1-bit image."""
        img = Image.new("1", (width, height))
        for y in range(height):
            for x in range(width):
                if self.ram[y // 8][x + offset] >> (y % 8) & 1:
                    img.putpixel((x, y), 1)
        return img


# driver -> the column where the panel's picture starts in its memory
DRIVERS = {"ssd1306": 0, "ssd1309": 0, "sh1106": 2}


def display_config(driver):
    return {**load_config()["display"], "driver": driver}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_each_driver_puts_rigs_frame_on_its_panel(driver):
    panel = Panel()
    device = open_device(display_config(driver), bus=panel)
    try:
        assert type(device).__name__ == driver
        frame = render(View(replace(BASE, mode=Mode.EDIT), 0.0))
        device.display(frame)
        shown = panel.picture(offset=DRIVERS[driver])
        assert ImageChops.difference(shown, frame).getbbox() is None
        # A second frame, different: the panel follows.
        other = render(View(BASE, 0.0))
        device.display(other)
        assert ImageChops.difference(panel.picture(offset=DRIVERS[driver]), other) \
            .getbbox() is None
    finally:
        device.persist = True      # no exit hook writing to a bus that is gone


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_the_device_is_the_one_lumas_factory_makes(driver):
    """Same class, size, rotation and mode as ``cmdline.create_device`` gives for the
    same arguments (on luma's noop interface, which sends nothing)."""
    config = {**display_config(driver), "rotate": 2}
    args = luma_args(config)
    assert (args.display, args.interface, args.width, args.height, args.rotate,
            int(args.i2c_address, 16), args.i2c_port) == \
        (driver, "i2c", 128, 64, 2, config["i2c_address"], config["i2c_port"])
    theirs = cmdline.create_device(replace_interface(args, "noop"))
    ours = open_device(config, bus=Panel())
    for device in (theirs, ours):
        device.persist = True
    assert type(ours) is type(theirs)
    assert (ours.width, ours.height, ours.rotate, ours.mode) == \
        (theirs.width, theirs.height, theirs.rotate, theirs.mode)


def replace_interface(args, interface):
    copy = type(args)(**vars(args))
    copy.interface = interface
    return copy


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_the_display_loop_runs_each_driver_by_name_from_the_config(tmp_path, driver, capsys):
    path = tmp_path / "rig.toml"
    path.write_text(f'[display]\ndriver = "{driver}"\n')
    assert main(["config", "check", str(path)]) == 0
    assert f"display  {driver} at 0x3C on /dev/i2c-1" in capsys.readouterr().out
    config = load_config(path)["display"]
    panel = Panel()
    clock = VirtualClock()
    device = open_device(config, bus=panel)
    loop = DisplayLoop(clock, device, lambda: View(BASE, clock.now()))
    task = clock.spawn(loop.run, name="display")
    clock.sleep(1.0)
    loop.stop_flag.set()
    loop.poke()
    task.join()
    device.persist = True
    assert loop.frames >= 1
    assert ImageChops.difference(panel.picture(offset=DRIVERS[driver]),
                                 render(View(BASE, 0.0))).getbbox() is None


def test_config_check_knows_lumas_names_and_refuses_others(tmp_path, capsys):
    names = oled_drivers()
    assert {"ssd1306", "sh1106", "ssd1309"} <= set(names)
    assert names == cmdline.get_display_types()["oled"]
    path = tmp_path / "rig.toml"
    path.write_text('[display]\ndriver = "sh1160"\n')
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "display.driver: must be one of luma.oled's displays (" + ", ".join(names) in err
