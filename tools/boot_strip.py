"""Draw docs/img/boot.png: the OLED during a boot, frame by frame.

Runs ``rig run``'s own code (:class:`rig.service.Service`, through
:func:`rig.harness.simulate_boot`) on the simulated default camera in
virtual time, exactly as ``tests/test_boot.py`` does: the camera is off at
first and switched on at 5 s; the lens is known (calibrated beforehand) and
a sequence of three points is saved.  A second boot with no sequence shows
what the rig says then.  Each screen the rig went through is drawn once, with
the virtual time it appeared.

    .venv/bin/python tools/boot_strip.py [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from rig.calibrate import calibrate
from rig.clock import VirtualClock
from rig.harness import BootFrame, BootRun, simulate_boot
from rig.lens import Lens
from rig.sequencer import Activity, Point
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile
from rig.store import Store

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "boot.png"
POINTS = (Point(120), Point(300, 2.5), Point(200, 1.5, "ease"))
CAMERA_AT = 5.0

SCALE = 2
COLUMNS = 4
PAD = 18
BEZEL = 6
CAPTION_H = 40
INK = (235, 240, 255)          # the Bonnet's white OLED pixels
BACKGROUND = (255, 255, 255)
FONT = ImageFont.load_default(size=15)
SMALL = ImageFont.load_default(size=13)


def _phase(frame: BootFrame) -> tuple:
    s = frame.state
    return (s.activity, s.progress[0] if s.progress else "", s.transition is not None)


def _screens(frames: list[BootFrame]) -> list[BootFrame]:
    """One frame per screen the rig went through: the middle one of each stretch."""
    runs: list[list[BootFrame]] = []
    for f in frames:
        if runs and _phase(runs[-1][0]) == _phase(f):
            runs[-1].append(f)
        else:
            runs.append([f])
    return [run[len(run) // 2] if run[0].state.transition else run[0] for run in runs]


def _caption(frame: BootFrame, camera_at: float) -> str:
    s = frame.state
    if s.activity == Activity.CONNECTING:
        return "rig starts, camera off" if not s.progress else "why, and what to do"
    if s.activity == Activity.HOMING:
        return f"camera on at {camera_at:.0f} s: homing"
    if s.transition is not None:
        return "to point 1, as fast as it can"
    if s.points:
        return f"play, on point {s.index + 1}"
    return "it says what to do"


def _tile(image: Image.Image, title: str, subtitle: str) -> Image.Image:
    w, h = image.width * SCALE, image.height * SCALE
    tile = Image.new("RGB", (w + 2 * BEZEL, h + 2 * BEZEL + CAPTION_H), BACKGROUND)
    draw = ImageDraw.Draw(tile)
    draw.rounded_rectangle((0, 0, w + 2 * BEZEL - 1, h + 2 * BEZEL - 1), radius=5,
                           fill=(40, 40, 40))
    screen = image.convert("L").resize((w, h), Image.NEAREST)
    lit = Image.new("RGB", (w, h), INK)
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    tile.paste(Image.composite(lit, dark, screen), (BEZEL, BEZEL))
    draw.text((2, h + 2 * BEZEL + 4), title, font=FONT, fill=(0, 0, 0))
    draw.text((2, h + 2 * BEZEL + 22), subtitle, font=SMALL, fill=(90, 90, 90))
    return tile


def strip(with_points: BootRun, without: BootRun) -> Image.Image:
    """The boot with a sequence, the end of one without, and the stopped screen."""
    tiles = [_tile(f.image, f"{f.t:.1f} s", _caption(f, with_points.camera_at))
             for f in _screens(with_points.frames)]
    last = without.frames[-1]
    tiles.append(_tile(last.image, "no sequence saved", _caption(last, without.camera_at)))
    tiles.append(_tile(with_points.stopped, "systemctl stop rig", "the screen stays on"))
    tw, th = tiles[0].size
    rows = -(-len(tiles) // COLUMNS)
    out = Image.new("RGB", (COLUMNS * (tw + PAD) + PAD, rows * (th + PAD) + PAD), BACKGROUND)
    for i, tile in enumerate(tiles):
        out.paste(tile, (PAD + (i % COLUMNS) * (tw + PAD), PAD + (i // COLUMNS) * (th + PAD)))
    return out


def main(out: Path = OUT) -> None:
    profile = load_profile(DEFAULT_PROFILE)
    clock = VirtualClock()
    lens = Lens(SimBody(profile, clock).session(), clock)
    lens.connect()
    cal = calibrate(lens)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        for root in (a, b):
            Store(Path(root)).save_calibration(cal)
        Store(Path(a)).save_sequence(POINTS, cal.lens)
        booted = simulate_boot(profile, Path(a), camera_at=CAMERA_AT)
        empty = simulate_boot(profile, Path(b), camera_at=1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip(booted, empty).save(out, optimize=True)
    print(f"{out}: {len(_screens(booted.frames))} screens of the boot; in play at "
          f"{booted.in_play_at:.1f} s of virtual time")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
