"""The 128x64 OLED: a pure renderer and a thin luma.oled shell.

:func:`render` turns a :class:`View` (the core state plus the time) into a
1-bit ``PIL.Image``; it draws nothing to any device, so every screen is
tested and shown in the docs as a picture.  :class:`DisplayLoop` runs in its
own thread, renders at up to 10 Hz and pushes a frame to the device only
when it changed, so an I2C transfer never sits between the core and a lens
command.

Layout, top to bottom::

    [play]          2/3     mode header, point index / sequence length
    point   250             the current point (or a countdown during a pull)
    lens    250
    in 1.300s / (1.30)      transition into this point: achievable, easing, target
    |----|----^-----|--     the range with the points, and the lens
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image, ImageDraw, ImageFont

from .clock import Clock, Flag
from .sequencer import Activity, Mode, State, achievable

__all__ = ["View", "render", "screen_text", "DisplayLoop", "GifRecorder", "open_device", "WIDTH", "HEIGHT"]

WIDTH, HEIGHT = 128, 64
FONT = ImageFont.load_default_imagefont()
CHAR_W, LINE_H = 6, 11
SPINNER = (".oOo", "o.oO", "Oo.o", "oOo.")


@dataclass(frozen=True)
class View:
    state: State
    now: float


def _lens_position(view: View) -> float | None:
    s = view.state
    tr = s.transition
    if tr is not None and tr.duration > 0:
        f = min(max((view.now - tr.t0) / tr.duration, 0.0), 1.0)
        return tr.start + (tr.target - tr.start) * f
    return None if s.position is None else float(s.position)


class _Draw(ImageDraw.ImageDraw):
    """An ImageDraw that keeps the words it wrote, for :func:`screen_text`."""

    def __init__(self, img: Image.Image) -> None:
        super().__init__(img)
        self.words: list[str] = []

    def text(self, xy: Any, text: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.words.append(str(text))
        super().text(xy, text, *args, **kwargs)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, *,
          invert: bool = False) -> None:
    x, y = xy
    if invert:
        w = len(text) * CHAR_W
        draw.rectangle((x - 1, y - 1, x + w, y + LINE_H - 1), fill=1)
    draw.text((x, y), text, font=FONT, fill=0 if invert else 1)


def _big(draw: _Draw, img: Image.Image, xy: tuple[int, int], text: str,
         scale: int = 2) -> None:
    """Text in the bitmap font scaled up with hard pixel edges."""
    draw.words.append(text)
    w = max(1, len(text) * CHAR_W)
    small = Image.new("1", (w, LINE_H))
    ImageDraw.Draw(small).text((0, 0), text, font=FONT, fill=1)
    big = small.resize((w * scale, LINE_H * scale), Image.NEAREST)
    img.paste(big, xy, big)


def _right(draw: ImageDraw.ImageDraw, y: int, text: str, *, invert: bool = False) -> None:
    _text(draw, (WIDTH - len(text) * CHAR_W - 1, y), text, invert=invert)


def _bar(draw: ImageDraw.ImageDraw, s: State, lens: float | None) -> None:
    """The range: a line, a tick per point (tall for the current one), the lens."""
    if s.model is None:
        return
    x0, x1, y = 2, WIDTH - 3, 57
    span = max(1, s.model.steps)

    def px(p: float) -> int:
        return round(x0 + (x1 - x0) * min(max(p, 0), span) / span)

    draw.line((x0, y, x1, y), fill=1)
    for i, p in enumerate(s.points):
        top = y - 5 if i == s.index else y - 3
        draw.line((px(p.position), top, px(p.position), y), fill=1)
    if lens is not None:
        x = px(lens)
        draw.polygon([(x, y + 1), (x - 3, y + 6), (x + 3, y + 6)], fill=1)


def _easing_glyph(draw: ImageDraw.ImageDraw, xy: tuple[int, int], easing: str, *,
                  invert: bool = False) -> None:
    """A 17x9 picture of the trajectory: a straight diagonal or an S-curve."""
    x, y = xy
    width, height = 16, 8
    if invert:
        draw.rectangle((x - 1, y - 1, x + width + 1, y + height + 1), fill=1)
    ink = 0 if invert else 1
    if easing == "linear":
        draw.line((x, y + height, x + width, y), fill=ink)
        return
    points = [(x + i, y + height - round(height * (1 - math.cos(math.pi * i / width)) / 2))
              for i in range(width + 1)]
    draw.line(points, fill=ink)


def _header(draw: ImageDraw.ImageDraw, view: View) -> None:
    s = view.state
    hl = s.highlight
    tag = {Mode.PLAY: "[play]", Mode.EDIT: "[edit]", Mode.INACTIVE: "[    ]"}[s.mode]
    _text(draw, (0, 0), tag, invert=hl is not None and hl.what == "mode")
    if s.mode != Mode.INACTIVE:
        count = f"{s.index + 1}/{len(s.points)}" if s.points else "0/0"
        _right(draw, 0, count, invert=hl is not None and hl.what == "points")


def _busy_screen(img: Image.Image, draw: ImageDraw.ImageDraw, view: View) -> None:
    s = view.state
    spin = SPINNER[int(view.now * 4) % 4]
    title = {Activity.CONNECTING: "camera", Activity.HOMING: "homing lens",
             Activity.CALIBRATING: "calibrating", Activity.LEARNING: "scene"}[s.activity]
    _text(draw, (0, 0), f"[{spin}] {title}")
    phase, fraction = s.progress or ("", 0.0)
    if s.activity == Activity.CONNECTING:
        if phase and phase != "camera":   # why, and what to do: two lines
            for i, line in enumerate(_wrap(phase, 4)):
                _text(draw, (0, 15 + i * LINE_H), line)
        else:
            _text(draw, (0, 16), "waiting for the")
            _text(draw, (0, 27), "camera on USB...")
        return
    if s.activity == Activity.HOMING:
        _text(draw, (0, 16), "checking lens")
        _text(draw, (0, 27), "limits...")
    elif s.activity == Activity.LEARNING:
        if phase != "scene":
            _text(draw, (0, 16), "checking the scene")
            return
        _text(draw, (0, 14), "learning the scene:")
        _text(draw, (0, 25), "keep the camera still")
        _bar_fill(draw, fraction, 38)
        _text(draw, (0, 52), "any button: skip")
    else:
        _text(draw, (0, 16), "new lens: measuring")
        _text(draw, (0, 27), phase[:21])
        _bar_fill(draw, fraction, 44)


def _bar_fill(draw: ImageDraw.ImageDraw, fraction: float, y: int) -> None:
    """A progress bar 9 pixels high with its top at ``y``."""
    x1 = 2 + round(123 * min(max(fraction, 0.0), 1.0))
    draw.rectangle((2, y, 125, y + 8), outline=1)
    if x1 > 3:
        draw.rectangle((3, y + 1, x1, y + 7), fill=1)


def _wrap(text: str, lines: int, width: int = 21) -> list[str]:
    """Words in at most ``lines`` lines of ``width`` characters."""
    out, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    return [w[:width] for w in out[:lines]]


def _fault_screen(draw: ImageDraw.ImageDraw, view: View) -> None:
    s = view.state
    _text(draw, (0, 0), "[ !! ] problem", invert=True)
    retrying = s.progress is not None and s.progress[0] not in ("", "camera")
    for i, text in enumerate(_wrap(s.message, 3 if retrying else 4)):
        _text(draw, (0, 13 + i * LINE_H), text)
    if retrying:
        spin = SPINNER[int(view.now * 4) % 4]
        _text(draw, (0, 13 + 3 * LINE_H), f"[{spin}] retry: {s.progress[0]}"[:21], invert=True)


def render(view: View) -> Image.Image:
    """The OLED frame for this state at this time (mode "1", 128x64)."""
    img = Image.new("1", (WIDTH, HEIGHT), 0)
    _draw(img, view)
    return img


def screen_text(view: View) -> list[str]:
    """The words on the screen, in the order they are drawn (top to bottom)."""
    draw = _draw(Image.new("1", (WIDTH, HEIGHT), 0), view)
    return draw.words


def _draw(img: Image.Image, view: View) -> _Draw:
    draw = _Draw(img)
    _screen(img, draw, view)
    return draw


def _screen(img: Image.Image, draw: _Draw, view: View) -> None:
    s = view.state
    if not s.screen_on:
        return
    if s.activity in (Activity.CONNECTING, Activity.HOMING, Activity.CALIBRATING,
                      Activity.LEARNING):
        _busy_screen(img, draw, view)
        return
    if s.activity == Activity.FAULT:
        _fault_screen(draw, view)
        return
    _header(draw, view)
    hl = s.highlight
    lens = _lens_position(view)
    if s.mode == Mode.INACTIVE:
        _text(draw, (0, 16), "inactive")
        _text(draw, (0, 30), "INFO: edit mode")
        _bar(draw, s, lens)
        return
    tr = s.transition
    if tr is not None:
        left = max(0.0, tr.t0 + tr.duration - view.now)
        _text(draw, (40, 0), f"==> {tr.to_index + 1}")
        _big(draw, img, (4, 16), f"{left:5.2f}s", scale=3)
        _bar(draw, s, lens)
        return
    if s.activity == Activity.FOCUSING:
        _text(draw, (0, 16), f"autofocus {SPINNER[int(view.now * 4) % 4]}")
        _bar(draw, s, lens)
        return
    if not s.points:
        _text(draw, (0, 14), "no points yet")
        if s.mode == Mode.PLAY:
            _text(draw, (0, 25), "INFO INFO: edit")
        else:
            _text(draw, (0, 25), "focus, then SET")
        if s.position is not None:
            _text(draw, (0, 38), f"lens {s.position:4d}")
        _bar(draw, s, lens)
        return
    point = s.points[s.index]
    _text(draw, (0, 14), f"point {point.position:4d}",
          invert=hl is not None and hl.what == "position")
    if s.distance_m is not None:  # only cameras that report a focus distance
        _right(draw, 14, "inf." if s.distance_m > 1000 else f"{s.distance_m:.2f}m")
    elif s.position is not None and s.position != point.position:
        _right(draw, 14, f"lens {s.position}")
    if s.index > 0:
        got = achievable(s, s.index)
        if hl is not None and hl.what == "duration":
            _text(draw, (0, 28), f"in >{hl.text}<", invert=True)
        elif got is not None:
            target = "(fast)" if point.duration <= 0 else f"({point.duration:.2f})"
            _text(draw, (0, 28), f"in {got:.3f}s")
            _right(draw, 28, target)
        _easing_glyph(draw, (60, 29), point.easing,
                      invert=hl is not None and hl.what == "easing")
    else:
        _text(draw, (0, 28), "first point")
    if hl is not None and hl.what in ("busy", "easing") and hl.text:
        _text(draw, (0, 40), hl.text[:21], invert=True)
    elif s.message:
        _text(draw, (0, 40), s.message[:21])
    elif not s.trusted:
        _text(draw, (0, 40), "lens position ?", invert=True)
    _bar(draw, s, lens)
    return


def stopped_screen() -> Image.Image:
    img = Image.new("1", (WIDTH, HEIGHT), 0)
    draw = _Draw(img)
    _text(draw, (0, 0), "[stop]")
    _text(draw, (0, 20), "rig is not running")
    return img


# ------------------------------------------------------------------ shell


def open_device(config: dict[str, Any]) -> Any:
    """The SSD1306 over I2C as configured, or None for ``driver = "none"``."""
    if config["driver"] == "none":
        return None
    from luma.core.interface.serial import i2c
    from luma.oled.device import ssd1306
    serial = i2c(port=config["i2c_port"], address=config["i2c_address"])
    return ssd1306(serial, width=WIDTH, height=HEIGHT, rotate=config["rotate"])


class GifRecorder:
    """Keeps each new frame with its time, to write an animated GIF."""

    def __init__(self, scale: int = 2) -> None:
        self.frames: list[tuple[float, Image.Image]] = []
        self.scale = scale

    def add(self, t: float, img: Image.Image) -> None:
        self.frames.append((t, img.copy()))

    def save(self, path: str | Path, end: float,
             speed: Callable[[float], float] = lambda t: 1.0) -> int:
        """Write the GIF; ``speed(t)`` > 1 plays that stretch faster. Returns frame count."""
        if not self.frames:
            return 0
        images, durations = [], []
        for i, (t, img) in enumerate(self.frames):
            t_next = self.frames[i + 1][0] if i + 1 < len(self.frames) else end
            ms = max(20, round(1000 * (t_next - t) / speed(t)))
            if images and ms < 20:
                continue
            images.append(img.convert("1").resize((WIDTH * self.scale, HEIGHT * self.scale),
                                                  Image.NEAREST))
            durations.append(ms)
        # 1-bit frames share one palette, so each frame stores only what changed.
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations,
                       loop=0, optimize=True)
        return len(images)


class DisplayLoop:
    """Renders the current view and shows it when it changes."""

    def __init__(self, clock: Clock, device: Any, view: Callable[[], View], *,
                 rate_hz: float = 10.0, idle_hz: float = 2.0,
                 recorder: GifRecorder | None = None) -> None:
        self.clock = clock
        self.device = device
        self.view = view
        self.rate_hz = rate_hz
        self.idle_hz = idle_hz
        self.recorder = recorder
        self.stop_flag: Flag = clock.flag()
        self.last: Image.Image | None = None
        self.frames = 0

    def show(self) -> Image.Image:
        v = self.view()
        img = render(v)
        if self.last is None or img.tobytes() != self.last.tobytes():
            if self.device is not None:
                self.device.display(img if img.mode == self.device.mode else img.convert(
                    self.device.mode))
            if self.recorder is not None:
                self.recorder.add(v.now, img)
            self.last = img
            self.frames += 1
        return img

    def _busy(self) -> bool:
        s = self.view().state
        return (s.transition is not None or s.highlight is not None
                or s.activity not in (Activity.IDLE, Activity.FAULT))

    def run(self) -> None:
        t = self.clock.now()
        while not self.stop_flag.is_set():
            self.show()
            rate = self.rate_hz if self._busy() else self.idle_hz
            t = max(t + 1.0 / rate, self.clock.now())
            # Align to the frame grid so recordings are reproducible.
            t = math.ceil(t * rate) / rate
            self.stop_flag.wait(until=t)

    def close(self) -> None:
        """Leave a "stopped" screen on the OLED after rig exits."""
        if self.device is not None:
            self.device.display(stopped_screen().convert(self.device.mode))
            self.device.persist = True
