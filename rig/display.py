"""The 128x64 OLED: a pure renderer and a thin luma.oled shell.

:func:`render` turns a :class:`View` (the core state plus the time) into a
1-bit ``PIL.Image``; it draws nothing to any device, so every screen is
tested against reference pictures and shown in the README
(:mod:`rig.screens`).  :class:`DisplayLoop` runs in its own thread, renders
at 20 Hz during a pull (10 Hz for other animations, 2 Hz at rest) and pushes
a frame to the device only when it changed, so an I2C transfer never sits
between the core and a lens command.

The screens are made to be read at arm's length on a 1.3" OLED, in the sun
and in the dark: the Spleen pixel font (``rig/data/fonts``), large figures
for what the operator acts on, and inverse video for what just changed.
Layout of the idle screen::

    [PLAY]              2/5     mode, point index / sequence length
    » 3     2.40s               the next pull (play) or the transition into
                                this point (edit): achievable, target, curve
    point 250      lens 248     small details, or a banner ("lens position ?")
    |----|----^-----|---        the range with the points, and the lens
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from luma.core.error import DeviceDisplayModeError, DeviceNotFoundError, DevicePermissionError
from PIL import Image, ImageChops, ImageDraw, ImageFont

from .clock import EMPTY, Clock, Flag
from .controls import Bindings, describe
from .distance import estimate
from .sequencer import Activity, Mode, State, achievable

__all__ = ["View", "render", "screen_text", "stopped_screen", "help_rows", "DisplayLoop",
           "GifRecorder", "open_device", "attach", "DEVICE_ERRORS", "WIDTH", "HEIGHT",
           "HELP_PAGE_S", "luma_args", "panel_problem"]

log = logging.getLogger(__name__)

# What an OLED that is unplugged, or loose on its header, raises: luma passes on
# the I2C write's OSError (-121 remote I/O) for frame data and turns it into
# DeviceNotFoundError for commands (and when the device is opened).
DEVICE_ERRORS = (OSError, DeviceNotFoundError, DevicePermissionError)
REATTACH_S = (1.0, 2.0, 5.0, 10.0, 30.0)   # tries to attach it again, then every 30 s

WIDTH, HEIGHT = 128, 64
SPINNER = (".oOo", "o.oO", "Oo.o", "oOo.")   # focus_sq's animated header
HELP_PAGE_S = 3.0      # the help screen turns a page this often
HELP_ROWS = 6          # rows of the controls card on one page
BAR_Y = 57             # the range bar's line

# The cell of each Spleen size (width, height): monospaced.
CELLS = {"small": (5, 8), "text": (6, 12), "mid": (8, 16), "large": (12, 24), "big": (16, 32)}

# The order of the card: the thumb first, then the Bonnet, then the wheel.
CARD_ORDER = ("thumb", "centre", "up", "down", "left", "right", "a", "b", "wheel")

# What a gesture does, in at most 14 characters (the OLED's help screen).
SHORT = {
    "info": "mode", "set": "store / next", "q": "add / to 1", "trash": "delete point",
    "up": "slower", "down": "faster", "left": "prev point", "right": "next point",
    "rate": "screen off/on", "af": "autofocus", "jog_near": "jog near", "jog_far": "jog far",
    "ease": "curve", "help": "help", "scene": "moving/still", "home": "home now",
}


@lru_cache(maxsize=None)
def font(size: str) -> ImageFont.ImageFont:
    """A Spleen size ("small", "text", "mid", "large", "big") from the package."""
    w, h = CELLS[size]
    with resources.as_file(resources.files("rig") / "data" / "fonts" / f"spleen-{w}x{h}.pil") \
            as path:
        return ImageFont.load(str(path))


@dataclass(frozen=True)
class View:
    state: State
    now: float
    # The lens's closest focusing distance (rig.distance), for the estimated
    # distance next to a point and during a pull; None: not shown.
    min_focus_m: float | None = None

    def distance(self, position: float | None) -> str:
        """"~54cm" for ``position``, or "" when the lens's closest distance is unknown."""
        model = self.state.model
        return estimate(position, model.steps if model else None, self.min_focus_m)


class _Canvas:
    """A 1-bit frame with text helpers that also keep the words (for tests)."""

    def __init__(self) -> None:
        self.img = Image.new("1", (WIDTH, HEIGHT), 0)
        self.draw = ImageDraw.Draw(self.img)
        self.words: list[str] = []

    def width(self, text: str, size: str = "text") -> int:
        return len(text) * CELLS[size][0]

    def text(self, xy: tuple[int, int], text: str, size: str = "text", *,
             invert: bool = False, bold: bool = False, align: str = "left") -> int:
        """Draw ``text``; ``xy`` is its left (or right / centre) top.  Returns its width."""
        if not text:
            return 0
        x, y = xy
        w = self.width(text, size) + (1 if bold else 0)
        if align == "right":
            x -= w
        elif align == "centre":
            x -= w // 2
        self.words.append(text)
        if invert:
            self.draw.rectangle((x - 1, y - 1, x + w, y + CELLS[size][1] - 1), fill=1)
        ink = 0 if invert else 1
        for dx in ((0, 1) if bold else (0,)):
            self.draw.text((x + dx, y), text, font=font(size), fill=ink)
        return w

    def band(self, y0: int, y1: int) -> None:
        """An inverse band across the screen (title bars)."""
        self.draw.rectangle((0, y0, WIDTH - 1, y1), fill=1)

    def invert(self, box: tuple[int, int, int, int]) -> None:
        """Inverse video over ``box`` (a highlight)."""
        region = ImageChops.invert(self.img.crop(box).convert("L")).convert("1")
        self.img.paste(region, box[:2])


def _gesture_label(gesture: str) -> str:
    """How a gesture reads on the screen: buttons A and B in capitals."""
    return " ".join("+".join(b.upper() if len(b) == 1 else b for b in word.split("+"))
                    for word in gesture.split(" "))


def _how(state: State, function: str) -> str:
    """The first gesture that does ``function``, as the screen writes it ("" if none)."""
    gestures = state.keys.bindings.gestures(function)
    return _gesture_label(str(gestures[0])) if gestures else ""


def help_rows(bindings: Bindings) -> list[tuple[str, str]]:
    """The controls card for the OLED: (gesture, what it does in a few words)."""
    rows = []
    for gesture, _ in describe(bindings, CARD_ORDER):
        function = _function_of(bindings, gesture)
        rows.append((_gesture_label(gesture), SHORT[function]))
    return rows


def _function_of(bindings: Bindings, gesture: str) -> str:
    if "+" in gesture:
        return bindings.chord[tuple(sorted(gesture.split("+")))]  # type: ignore[index]
    if gesture.endswith(" long"):
        return bindings.long[gesture[:-5]]
    return bindings.press[gesture]


# ------------------------------------------------------------------ pieces


def _lens_position(view: View) -> float | None:
    s = view.state
    tr = s.transition
    if tr is not None and tr.duration > 0:
        f = min(max((view.now - tr.t0) / tr.duration, 0.0), 1.0)
        return tr.start + (tr.target - tr.start) * f
    return None if s.position is None else float(s.position)


def _bar(c: _Canvas, s: State, lens: float | None, target: int | None = None) -> None:
    """The range: a line, a tick per point (tall for the current one), the lens below."""
    if s.model is None:
        return
    x0, x1, y = 2, WIDTH - 3, BAR_Y
    span = max(1, s.model.steps)

    def px(p: float) -> int:
        return round(x0 + (x1 - x0) * min(max(p, 0), span) / span)

    c.draw.line((x0, y, x1, y), fill=1)
    c.draw.line((x0, y - 2, x0, y + 2), fill=1)        # the stops
    c.draw.line((x1, y - 2, x1, y + 2), fill=1)
    for i, p in enumerate(s.points):
        top = y - 6 if i == s.index else y - 3
        c.draw.line((px(p.position), top, px(p.position), y), fill=1)
    if target is not None:                              # the destination of a pull
        x = px(target)
        c.draw.rectangle((x - 2, y - 8, x + 2, y - 4), outline=1)
    if lens is not None:
        x = px(lens)
        c.draw.polygon([(x, y + 1), (x - 3, y + 6), (x + 3, y + 6)], fill=1)


def _easing_glyph(c: _Canvas, xy: tuple[int, int], easing: str, *,
                  invert: bool = False) -> None:
    """A 17x9 picture of the trajectory: a straight diagonal or an S-curve."""
    x, y = xy
    width, height = 16, 8
    if invert:
        c.draw.rectangle((x - 1, y - 1, x + width + 1, y + height + 1), fill=1)
    ink = 0 if invert else 1
    if easing == "linear":
        c.draw.line((x, y + height, x + width, y), fill=ink)
        return
    points = [(x + i, y + height - round(height * (1 - math.cos(math.pi * i / width)) / 2))
              for i in range(width + 1)]
    c.draw.line(points, fill=ink)


def _spinner(view: View) -> str:
    return SPINNER[int(view.now * 4) % 4]


def _header(c: _Canvas, view: View, middle: str = "") -> None:
    """Mode tag, something in the middle, point index / length."""
    s = view.state
    tag = {Mode.PLAY: "PLAY", Mode.EDIT: "EDIT", Mode.INACTIVE: "OFF"}[s.mode]
    w = c.width(tag) + 3
    if s.mode == Mode.PLAY:           # "on air": a filled tag
        c.draw.rectangle((0, 0, w, 12), fill=1)
        c.text((2, 1), tag, invert=True)
    elif s.mode == Mode.EDIT:
        c.draw.rectangle((0, 0, w, 12), outline=1)
        c.text((2, 1), tag)
    else:
        c.text((2, 1), tag)
    if middle:
        c.text((w + 6, 1), middle)
    elif s.mode != Mode.INACTIVE:
        # The scene ([position] scene): "still" checks arrivals in the live view.
        flash = s.highlight is not None and s.highlight.what == "scene"
        c.text((w + 6, 3), s.scene, "small", invert=flash)
    if s.mode != Mode.INACTIVE:
        count = f"{s.index + 1}/{len(s.points)}" if s.points else "0/0"
        hl = s.highlight
        c.text((WIDTH - 1, 1), count, align="right",
               invert=hl is not None and hl.what == "points")
    if s.highlight is not None and s.highlight.what == "mode":
        c.invert((0, 0, WIDTH, 13))


def _title(c: _Canvas, text: str, view: View | None = None) -> None:
    """A busy or problem screen's title: an inverse band, with focus_sq's spinner."""
    c.band(0, 15)
    x = 2
    if view is not None:
        x += c.text((x, 2), f"[{_spinner(view)}]", invert=True) + 6
    c.text((x, 0), text, "mid", invert=True)


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


def _progress(c: _Canvas, fraction: float, y: int) -> None:
    """A progress bar 9 pixels high with its top at ``y``."""
    x1 = 2 + round(123 * min(max(fraction, 0.0), 1.0))
    c.draw.rectangle((2, y, 125, y + 8), outline=1)
    if x1 > 3:
        c.draw.rectangle((3, y + 1, x1, y + 7), fill=1)


# ----------------------------------------------------------------- screens


def _busy_screen(c: _Canvas, view: View) -> None:
    s = view.state
    phase, fraction = s.progress or ("", 0.0)
    if s.activity == Activity.CONNECTING:
        _title(c, "CAMERA", view)
        if phase and phase != "camera":   # why, and what to do
            for i, line in enumerate(_wrap(phase, 4)):
                c.text((0, 18 + i * 11), line)
        else:
            c.text((0, 20), "waiting for the")
            c.text((0, 32), "camera on USB...")
        return
    if s.activity == Activity.HOMING:
        _title(c, "HOMING", view)
        c.text((0, 20), "finding the near stop")
        _homing_animation(c, view)
        return
    if s.activity == Activity.LEARNING:
        _title(c, "SCENE", view)
        if phase != "scene":
            c.text((0, 22), "checking the scene")
            c.text((0, 34), "it was learnt before")
            return
        c.text((0, 18), "learning: keep the")
        c.text((0, 29), "camera still")
        _progress(c, fraction, 42)
        c.text((0, 55), "any button: skip", "small")
        return
    _title(c, "NEW LENS", view)
    c.text((0, 18), "measuring the lens")
    c.text((0, 30), phase[:21])
    _progress(c, fraction, 45)
    c.text((WIDTH - 1, 55), f"{round(100 * fraction)}%", "small", align="right")


def _homing_animation(c: _Canvas, view: View) -> None:
    """Chevrons running along the range toward the near stop."""
    y = 46
    c.draw.line((2, y - 4, 2, y + 4), fill=1)            # the near stop
    c.draw.line((2, y, WIDTH - 3, y), fill=1)
    shift = int(view.now * 40) % 16
    for x in range(WIDTH - 8 - shift, 8, -16):
        c.draw.line([(x + 4, y - 4), (x, y), (x + 4, y + 4)], fill=1)


FAULTS = {
    # kind: (title, what to do)
    "camera": ("CAMERA LOST", "check the USB cable and the power"),
    "lens_mf": ("LENS ON MF?", "set the lens switch to AF"),
}


def _fault_screen(c: _Canvas, view: View) -> None:
    s = view.state
    title, hint = FAULTS.get(s.fault, ("PROBLEM", ""))
    _title(c, title)
    retrying = s.progress is not None and s.progress[0] not in ("", "camera")
    text = hint if hint else s.message
    rows = 2 if retrying or s.fault == "camera" else 4
    for i, line in enumerate(_wrap(text, rows)):
        c.text((0, 18 + i * 11), line)
    if retrying:
        assert s.progress is not None
        c.text((0, 43), f"[{_spinner(view)}] trying again:", "small")
        c.text((0, 52), s.progress[0].split(":")[0][:25], "small")
    elif s.fault == "camera":
        c.text((0, 47), f"[{_spinner(view)}] waiting for it", "small")


def _liveview_screen(c: _Canvas, view: View) -> None:
    _title(c, "LIVE VIEW")
    c.text((0, 18), "live view was off:")
    c.text((0, 30), "rig turned it on")
    c.text((0, 42), "the lens only moves", "small")
    c.text((0, 51), "in live view", "small")


def _chunks(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def _help_screen(c: _Canvas, view: View) -> None:
    s = view.state
    rows = help_rows(s.keys.bindings)
    card = max(1, math.ceil(len(rows) / HELP_ROWS))
    pages = card + (s.web_page is not None)   # the web page's address and token last
    since = s.help_since if s.help_since is not None else view.now
    page = int(max(0.0, view.now - since) / HELP_PAGE_S) % pages
    if not (page == card and s.web_page is not None):
        c.band(0, 7)
        c.text((1, 0), "HELP", "small", invert=True)
        c.text((WIDTH - 1, 0), f"any key: close {page + 1}/{pages}", "small", invert=True,
               align="right")
    if page == card and s.web_page is not None:
        _web_page(c, *s.web_page, f"{page + 1}/{pages}")
        return
    for i, (gesture, what) in enumerate(rows[page * HELP_ROWS:(page + 1) * HELP_ROWS]):
        y = 10 + i * 9
        c.text((0, y), gesture, "small")
        c.text((57, y), what, "small")


QR_MODULE = 2       # pixels per QR module on the OLED: a version-3 code is 58 pixels


def _qr(c: _Canvas, text: str) -> bool:
    """The QR code of ``text`` at the left, dark modules on a lit square (as printed
    codes are), if it fits the screen's height at :data:`QR_MODULE` pixels a module."""
    from .address import qr_matrix
    matrix = qr_matrix(text)
    size = len(matrix) * QR_MODULE
    if size > HEIGHT - 4:            # at least 2 lit pixels of quiet zone around it
        return False
    margin = (HEIGHT - size) // 2
    c.draw.rectangle((0, 0, size + 2 * margin - 1, HEIGHT - 1), fill=1)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = margin + x * QR_MODULE, margin + y * QR_MODULE
                c.draw.rectangle((x0, y0, x0 + QR_MODULE - 1, y0 + QR_MODULE - 1), fill=0)
    c.words.append(f"[QR {text}]")
    return True


def _web_page(c: _Canvas, address: str, token: str, page: str) -> None:
    """The help screen's last page: a QR code of the page with its token, and both
    in writing (the address by IP: older phones do not resolve .local)."""
    from .address import qr_link
    where = address.removeprefix("http://").rstrip("/")
    groups = token.split("-")
    if _qr(c, qr_link(address, token)):
        x, width = 67, 12                                    # the column beside it
        host, _, port = where.rpartition(":")
        place = _chunks(host or where, width)
        if port and host:
            if len(place[-1]) + 1 + len(port) <= width:
                place[-1] += f":{port}"
            else:
                place.append(f":{port}")
        lines = [f"web {page}"] + place[:2] + ["token:"] + [
            "-".join(groups[i:i + 2]) for i in range(0, len(groups), 2)][:3]
        for i, line in enumerate(lines):
            c.text((x, i * 9), line, "small", invert=i == 0)
        return
    c.band(0, 7)
    c.text((1, 0), "WEB PAGE (same wifi)", "small", invert=True)
    c.text((WIDTH - 1, 0), page, "small", invert=True, align="right")
    for i, line in enumerate(_chunks(where, 25)[:2]):
        c.text((0, 12 + i * 9), line, "small")
    c.text((0, 33), "token:", "small")
    for i, line in enumerate(_chunks(token, 25)[:2]):
        c.text((0, 42 + i * 9), line, "small")


def _countdown(c: _Canvas, view: View) -> None:
    s = view.state
    tr = s.transition
    assert tr is not None
    left = max(0.0, tr.t0 + tr.duration - view.now)
    _header(c, view, f"» {tr.to_index + 1} {view.distance(tr.target)}".rstrip())
    digits = f"{left:.2f}" if left < 100 else f"{left:.0f}"
    w = c.width(digits, "big") + c.width("s", "mid") + 2
    x = (WIDTH - w) // 2
    c.text((x, 14), digits, "big", bold=True)
    c.text((x + w - c.width("s", "mid"), 28), "s", "mid")
    _bar(c, s, _lens_position(view), tr.target)


def uncertain(s: State) -> bool:
    """The position's uncertainty is above ``[position] uncertain_steps``: the OLED shows it."""
    return s.uncertainty > s.settings.uncertain_steps


def _point_screen(c: _Canvas, view: View) -> None:
    s = view.state
    hl = s.highlight
    point = s.points[s.index]
    lens = _lens_position(view)
    _header(c, view)
    if s.mode == Mode.PLAY:
        _next_pull(c, s)
    else:
        _transition_into(c, s)
    # The details line: a banner if something needs saying, else where things are.
    y = 40
    if hl is not None and hl.what in ("busy", "easing") and hl.text:
        c.text((1, y), hl.text[:21], invert=True)
    elif s.message:
        c.text((0, y), s.message[:21])
    elif uncertain(s) and math.isfinite(s.uncertainty):
        c.text((1, y), f"lens \u00b1{s.uncertainty:.0f} steps", invert=True, bold=True)
    elif not s.trusted:
        c.text((1, y), "lens position ?", invert=True, bold=True)
    else:
        c.text((0, y), f"point {point.position}")
        if s.distance_m is not None:  # only cameras that report a focus distance
            c.text((WIDTH - 1, y), "inf." if s.distance_m > 1000 else f"{s.distance_m:.2f}m",
                   align="right")
        elif s.position is not None and s.position != point.position:
            c.text((WIDTH - 1, y), f"lens {s.position}", align="right")
        elif view.distance(point.position):     # an estimate from the lens's specs
            c.text((WIDTH - 1, y), view.distance(point.position), align="right")
        if hl is not None and hl.what == "position":
            c.invert((0, y - 1, 6 * 10, y + 11))
    _bar(c, s, lens)


def _next_pull(c: _Canvas, s: State) -> None:
    """Play: what the thumb does next, large."""
    if s.index + 1 >= len(s.points):
        c.text((0, 17), "last point", "mid", bold=True)
        how = _how(s, "q")
        if how:
            c.text((0, 32), f"{how}: back to 1", "small")
        return
    nxt = s.points[s.index + 1]
    got = achievable(s, s.index + 1)
    c.text((0, 15), f"»{s.index + 2}", "large")
    if got is not None:
        c.text((WIDTH - 20, 15), f"{got:.2f}s", "large", align="right")
    _easing_glyph(c, (WIDTH - 17, 22), nxt.easing)


def _transition_into(c: _Canvas, s: State) -> None:
    """Edit: the transition into this point: achievable, (target), its curve."""
    hl = s.highlight
    point = s.points[s.index]
    if s.index == 0:
        c.text((0, 17), "first point", "mid")
        return
    y = 15
    if hl is not None and hl.what == "duration":
        c.text((1, y), f">{hl.text}<", "mid", invert=True, bold=True)
    else:
        got = achievable(s, s.index)
        if got is not None:
            c.text((0, y), f"{got:.2f}s", "mid", bold=True)
        target = "fastest" if point.duration <= 0 else f"asked {point.duration:.2f}"
        c.text((0, y + 16), target, "small")
    _easing_glyph(c, (WIDTH - 19, y + 4), point.easing,
                  invert=hl is not None and hl.what == "easing")


def _empty_screen(c: _Canvas, view: View) -> None:
    s = view.state
    _header(c, view)
    c.text((0, 17), "no points yet", "mid")
    info, store = _how(s, "info"), _how(s, "set")
    if s.mode == Mode.PLAY:
        if info:
            c.text((0, 34), f"{info} twice: edit mode", "small")
    elif store:
        c.text((0, 34), f"focus, then {store}", "small")
    if s.highlight is not None and s.highlight.what == "busy" and s.highlight.text:
        c.text((1, 43), s.highlight.text[:21], invert=True)
    elif s.position is not None:
        c.text((0, 44), f"lens {s.position}", "small")
    _bar(c, s, _lens_position(view))


def _inactive_screen(c: _Canvas, view: View) -> None:
    s = view.state
    _header(c, view)
    c.text((0, 18), "inactive", "mid")
    info = _how(s, "info")
    if info:
        c.text((0, 36), f"{info}: edit mode", "small")
    _bar(c, s, _lens_position(view))


def _screen(c: _Canvas, view: View) -> None:
    s = view.state
    if not s.screen_on:
        return
    if s.help_since is not None:
        _help_screen(c, view)
    elif s.activity in (Activity.CONNECTING, Activity.HOMING, Activity.CALIBRATING,
                        Activity.LEARNING):
        _busy_screen(c, view)
    elif s.activity == Activity.FAULT:
        _fault_screen(c, view)
    elif s.highlight is not None and s.highlight.what == "liveview":
        _liveview_screen(c, view)
    elif s.mode == Mode.INACTIVE:
        _inactive_screen(c, view)
    elif s.transition is not None:
        _countdown(c, view)
    elif s.activity == Activity.FOCUSING:
        _header(c, view)
        c.text((0, 18), f"autofocus {_spinner(view)}", "mid")
        _bar(c, s, _lens_position(view))
    elif not s.points:
        _empty_screen(c, view)
    else:
        _point_screen(c, view)


def render(view: View) -> Image.Image:
    """The OLED frame for this state at this time (mode "1", 128x64)."""
    c = _Canvas()
    _screen(c, view)
    return c.img


def screen_text(view: View) -> list[str]:
    """The words on the screen, in the order they are drawn (top to bottom)."""
    c = _Canvas()
    _screen(c, view)
    return c.words


def stopped_screen(reason: str = "") -> Image.Image:
    """What the OLED keeps showing after rig has stopped (luma's ``persist``)."""
    c = _Canvas()
    c.band(0, 15)
    c.text((2, 0), "STOPPED", "mid", invert=True)
    c.text((0, 19), "rig is not running")
    for i, line in enumerate(_wrap(reason or "the lens is left where it is", 2)):
        c.text((0, 31 + i * 11), line)
    c.text((0, 56), "systemctl start rig", "small")
    return c.img


# ------------------------------------------------------------------ shell


def luma_args(config: dict[str, Any]) -> Any:
    """The ``[display]`` config as luma's own command line would take it
    (``luma.core.cmdline``): every other option keeps luma's default."""
    from luma.core import cmdline
    parser = cmdline.create_parser("rig's OLED", autocomplete=False)
    return parser.parse_args([
        "--display", config["driver"], "--interface", "i2c",
        "--i2c-port", str(config["i2c_port"]), "--i2c-address", hex(config["i2c_address"]),
        "--width", str(WIDTH), "--height", str(HEIGHT), "--rotate", str(config["rotate"])])


def _make_device(args: Any, serial: Any) -> Any:
    """An OLED made as ``luma.core.cmdline.create_device`` makes one (the class by
    name, luma's framebuffer and defaults), on the interface rig opened itself:
    create_device opens its own, which could not be probed first (below)."""
    import luma.core.framebuffer
    import luma.oled.device
    device_class = getattr(luma.oled.device, args.display)
    framebuffer = getattr(luma.core.framebuffer, args.framebuffer)(
        num_segments=args.num_segments, debug=args.debug)
    return device_class(serial_interface=serial, **dict(vars(args), framebuffer=framebuffer))


def panel_problem(driver: str) -> str | None:
    """Why luma's ``driver`` cannot run rig's 128x64 screen over I2C, or None.

    The device is made on luma's ``noop`` interface, which sends nothing.
    """
    from luma.core.interface.serial import noop
    try:
        args = luma_args({"driver": driver, "i2c_port": 1, "i2c_address": 0x3C, "rotate": 0})
        device = _make_device(args, noop())
    except DeviceDisplayModeError as exc:      # a panel of another size
        return f"luma's {driver} cannot drive a {WIDTH}x{HEIGHT} screen ({exc})"
    except Exception:                 # a character display on a parallel bus (ws0010)
        return f"luma's {driver} is not a {WIDTH}x{HEIGHT} graphic panel on I2C"
    device.persist = True            # nothing to switch off at exit
    return None


def open_device(config: dict[str, Any], bus: Any = None) -> Any:
    """The OLED as configured (luma.oled's ``driver``: ssd1306, sh1106, ssd1309...
    over I2C), or None for ``driver = "none"``.

    ``"pygame"`` (a window on a desktop) is opened by :mod:`rig.desktop`.
    ``bus``: an open smbus-like bus instead of ``/dev/i2c-N`` (tests).
    An OLED that does not answer raises one of :data:`DEVICE_ERRORS`.
    """
    if config["driver"] == "none":
        return None
    from luma.core.interface.serial import i2c
    args = luma_args(config)
    serial = i2c(bus=bus, port=config["i2c_port"], address=config["i2c_address"])
    try:
        # A no-op command first (0xE3 on the SSD130x and SH110x): luma's device
        # registers an exit hook that blanks the panel before it sends anything,
        # so a device made while the OLED is away would blank it at exit once
        # it is back.
        serial.command(0xE3)
    except DEVICE_ERRORS:
        serial.cleanup()
        raise
    return _make_device(args, serial)


def attach(config: dict[str, Any]) -> tuple[Any, Callable[[], Any] | None]:
    """The OLED as configured, and how to open it again (for :class:`DisplayLoop`).

    An OLED that does not answer at boot is no reason not to run: the device
    is None then, and the display loop keeps trying to attach it.
    """
    if config["driver"] == "none":
        return None, None

    def reopen() -> Any:
        return open_device(config)
    try:
        return reopen(), reopen
    except DEVICE_ERRORS as exc:
        log.warning("OLED: %s: running without a screen, trying to attach it", exc)
        return None, reopen


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
    """Renders the current view and shows it when it changes, in its own thread.

    It only reads the published state: the core never waits for it, and a
    slow I2C transfer delays the next frame, never a lens command.  The core
    :meth:`poke` s it when the state changes, so a new screen (a pull that
    starts) shows at once rather than at the next idle frame; frames still
    come no faster than ``pull_hz``.
    """

    def __init__(self, clock: Clock, device: Any, view: Callable[[], View], *,
                 pull_hz: float = 20.0, rate_hz: float = 10.0, idle_hz: float = 2.0,
                 recorder: GifRecorder | None = None,
                 reopen: Callable[[], Any] | None = None,
                 reattach_s: tuple[float, ...] = REATTACH_S) -> None:
        self.clock = clock
        self.device = device
        self.view = view
        # An OLED that fails (unplugged): run without it, open it again with backoff.
        self.reopen = reopen
        self.reattach_s = reattach_s
        self.retry_at: float | None = (clock.now() if device is None and reopen is not None
                                       else None)
        self.tries = 0                   # failed attaches since the OLED was lost
        self.lost = 0                    # times the OLED was lost
        self._on: bool | None = None     # the panel's on/off as last set
        self.pull_hz = pull_hz
        self.rate_hz = rate_hz
        self.idle_hz = idle_hz
        self.recorder = recorder
        self.stop_flag: Flag = clock.flag()
        self._wake = clock.channel()
        self.last: Image.Image | None = None
        self.frames = 0
        self.pushed: list[float] = []    # when each frame was pushed (bounded: the last 4096)

    def show(self) -> Image.Image:
        v = self.view()
        img = render(v)
        if self.device is not None and self._on != v.state.screen_on:
            # RATE: the panel off (not just black) saves power; set here, in
            # this thread, so an I2C write never runs in the core.
            if self._push(self.device.show if v.state.screen_on else self.device.hide):
                self._on = v.state.screen_on
        if self.last is None or img.tobytes() != self.last.tobytes():
            if self.device is not None:
                device = self.device
                self._push(lambda: device.display(img if img.mode == device.mode
                                                  else img.convert(device.mode)))
            if self.recorder is not None:
                self.recorder.add(v.now, img)
            self.last = img
            self.frames += 1
            self.pushed.append(self.clock.now())
            del self.pushed[:-4096]
        return img

    def _push(self, write: Callable[[], Any]) -> bool:
        """One write to the OLED; if it fails, carry on without it (and say so once)."""
        try:
            write()
            return True
        except DEVICE_ERRORS as exc:
            self._lose(exc)
            return False

    def _lose(self, exc: BaseException) -> None:
        device, self.device = self.device, None
        self.lost += 1
        self.tries = 0
        # luma's exit hook would blank the panel: by then it may be the one
        # plugged back in, showing the "stopped" screen.
        device.persist = True
        if self.reopen is None:
            log.warning("OLED: %s: running without a screen", exc)
            return
        self.retry_at = self.clock.now() + self.reattach_s[0]
        log.warning("OLED: %s: running without a screen, trying to attach it again", exc)

    def _reattach(self) -> None:
        """Due: open the OLED anew; if it still does not answer, try later."""
        assert self.reopen is not None
        try:
            device = self.reopen()
        except DEVICE_ERRORS as exc:
            self.tries += 1
            wait = self.reattach_s[min(self.tries, len(self.reattach_s) - 1)]
            self.retry_at = self.clock.now() + wait
            log.debug("OLED: still not there (%s); next try in %.0f s", exc, wait)
            return
        log.info("OLED attached%s", f" again after {self.tries + 1} tries" if self.lost else "")
        self.device, self.retry_at, self._on, self.last = device, None, None, None

    def _rate(self) -> float:
        s = self.view().state
        if s.transition is not None:
            return self.pull_hz           # the countdown
        busy = (s.highlight is not None or s.help_since is not None
                or s.activity not in (Activity.IDLE, Activity.FAULT))
        return self.rate_hz if busy else self.idle_hz

    def poke(self) -> None:
        """The state changed: draw it soon (never blocks)."""
        self._wake.put(True)

    def stop(self) -> None:
        self.stop_flag.set()
        self.poke()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            if self.retry_at is not None and self.clock.now() >= self.retry_at:
                self._reattach()
            self.show()
            shown = self.clock.now()
            rate = self._rate()
            # The next frame on the grid of its rate, so recordings are reproducible.
            t = (math.floor(shown * rate + 1e-9) + 1) / rate
            if self.retry_at is not None:
                t = min(t, max(self.retry_at, shown))
            if self._wake.get(until=t) is EMPTY:
                continue
            while self._wake.get_nowait() is not EMPTY:
                pass
            # A change: show it now, but no sooner than a frame after the last.
            self.stop_flag.wait(until=shown + 1.0 / self.pull_hz)

    def close(self, reason: str = "") -> None:
        """Leave a "stopped" screen on the OLED after rig exits (if it is there)."""
        if self.device is None and self.reopen is not None:
            self.retry_at = self.clock.now()
            self._reattach()          # one last try: it may be back
        device = self.device
        if device is None:
            return
        self._push(device.show)       # even if RATE had turned the screen off
        if self._push(lambda: device.display(stopped_screen(reason).convert(device.mode))):
            device.persist = True
