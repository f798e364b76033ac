"""Buttons to functions: debouncing and gestures, worked out in the core.

The rig has a few physical buttons (the OLED Bonnet's joystick and its
buttons A and B, a thumb button on a jack, the focus wheel's push switch)
and more functions than buttons (the ten of the focus_sq module, jogging,
the easing of a transition, the help screen).  The config binds each
function to one or more *gestures* (``[functions]`` in ``rig.toml``):

=================  ===========================================================
``"b"``            a press of button ``b``
``"b long"``       ``b`` held for ``ui.hold_time``
``"a+b"``          ``a`` and ``b`` pressed together (in either order)
=================  ===========================================================

gpiozero only reports edges (:class:`Edge`).  :func:`step` turns them into
what the operator meant, from the edge times alone, so every gesture is
tested in virtual time:

* **Debounce.**  An edge is taken at once (no delay on a press), then the
  button is deaf for ``ui.bounce_time``; if its level differs at the end of
  that time, that change is taken then.  A contact that chatters for a few
  milliseconds gives one press.
* **A press** acts on the press edge when its button has no long press and
  no chord: the thumb button advances the moment it closes.  A button that
  also has a long press or a chord has to wait: its press acts on release.
* **A long press** acts once the button has been held ``ui.hold_time``; the
  release then does nothing.
* **A chord** acts when its second button goes down while the first is
  still held (and has not acted yet).
* **Repeat functions** (UP, DOWN) act on the press and again every
  ``ui.repeat_time`` after ``ui.repeat_delay`` while held.
* **Hold functions** (jogging) report stage 1 when their gesture happens,
  stage 2 once the button has been held ``ui.coarse_time`` and stage 0 on
  release (:class:`Hold`).

Any press taken also gives a :class:`Touch` first.  When the caller says the
screen *captures* presses (the help screen, learning the scene), a press
gives only its :class:`Touch` and its gesture is used up.

Nothing here knows about modes or the lens: :mod:`rig.sequencer` decides what
a function does.  This module imports nothing from rig.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

__all__ = ["BUTTONS", "FUNCTIONS", "REPEATS", "HOLDS", "Gesture", "Bindings", "BindingError",
           "Timing", "Edge", "Touch", "Do", "Hold", "Keys", "step", "next_deadline",
           "parse_gesture", "make_bindings", "describe"]

#: The physical buttons rig knows ("wheel" is the focus wheel's push switch).
BUTTONS = ("up", "down", "left", "right", "centre", "a", "b", "thumb", "wheel")

#: Every function a gesture can do: the ten of the focus_sq module, then rig's own.
FUNCTIONS = ("info", "set", "q", "trash", "up", "down", "left", "right", "rate", "af",
             "jog_near", "jog_far", "ease", "help", "scene", "home")

REPEATS = frozenset({"up", "down"})            # act again and again while held
HOLDS = frozenset({"jog_near", "jog_far"})     # last as long as the button is held

# What each function does, in the words of the help screen and the controls card.
WHAT = {
    "info": "mode: inactive/edit/play", "set": "store point / next in play",
    "q": "add point / back to 1 in play", "trash": "delete point",
    "up": "slower transition", "down": "faster transition",
    "left": "previous point", "right": "next point",
    "rate": "screen off / on", "af": "autofocus",
    "jog_near": "jog near (then coarse)", "jog_far": "jog far (then coarse)",
    "ease": "straight / eased curve", "help": "this help",
    "scene": "scene moving / still", "home": "home now (into the stop)",
}


class BindingError(ValueError):
    """A function's gestures cannot work; ``function`` names the config key."""

    def __init__(self, function: str, message: str) -> None:
        super().__init__(message)
        self.function = function


@dataclass(frozen=True)
class Gesture:
    kind: str                   # "press" | "long" | "chord"
    buttons: tuple[str, ...]    # one button, or two (sorted) for a chord

    def __str__(self) -> str:
        if self.kind == "chord":
            return "+".join(self.buttons)
        return self.buttons[0] + (" long" if self.kind == "long" else "")


_GESTURE = re.compile(r"^\s*([a-z0-9_]+)\s*(?:(\+)\s*([a-z0-9_]+)|\s+(long))?\s*$")


def parse_gesture(text: str, buttons: Iterable[str] = BUTTONS) -> Gesture:
    """``"b"``, ``"b long"`` or ``"a+b"``; ValueError says what is wrong."""
    known = tuple(buttons)
    match = _GESTURE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a gesture: write \"BUTTON\", \"BUTTON long\" "
                         f"or \"BUTTON+BUTTON\"")
    first, plus, second, long = match.groups()
    names = (first, second) if plus else (first,)
    for name in names:
        if name not in known:
            raise ValueError(f"unknown button {name!r} in {text!r} (buttons: "
                             f"{', '.join(known)})")
    if plus:
        if first == second:
            raise ValueError(f"{text!r}: a chord needs two different buttons")
        return Gesture("chord", tuple(sorted(names)))
    return Gesture("long" if long else "press", names)


@dataclass(frozen=True)
class Bindings:
    """Which function each gesture does (built and checked by :func:`make_bindings`)."""

    press: Mapping[str, str] = field(default_factory=dict)             # button -> function
    long: Mapping[str, str] = field(default_factory=dict)              # button -> function
    chord: Mapping[tuple[str, str], str] = field(default_factory=dict)  # sorted pair -> function

    def waits(self, button: str) -> bool:
        """Its press must wait for the release: it also has a long press or a chord."""
        return button in self.long or any(button in pair for pair in self.chord)

    def gestures(self, function: str) -> list[Gesture]:
        """The gestures that do ``function``, presses first."""
        found = [Gesture("press", (b,)) for b, f in self.press.items() if f == function]
        found += [Gesture("long", (b,)) for b, f in self.long.items() if f == function]
        found += [Gesture("chord", pair) for pair, f in self.chord.items() if f == function]
        return found


def make_bindings(functions: Mapping[str, Iterable[str]],
                  buttons: Iterable[str] = BUTTONS) -> Bindings:
    """Bindings from ``{function: [gesture, ...]}``; BindingError names the function."""
    known = tuple(buttons)
    press: dict[str, str] = {}
    long: dict[str, str] = {}
    chord: dict[tuple[str, str], str] = {}
    where: dict[Gesture, str] = {}
    for function, gestures in functions.items():
        if function not in FUNCTIONS:
            raise BindingError(function, f"unknown function (functions: {', '.join(FUNCTIONS)})")
        for text in gestures:
            try:
                g = parse_gesture(text, known)
            except ValueError as exc:
                raise BindingError(function, str(exc)) from None
            if g in where:
                raise BindingError(function, f"{str(g)!r} already does {where[g]}: give "
                                             f"{where[g]} other gestures (or [] for none)")
            where[g] = function
            if g.kind == "chord":
                if function in HOLDS:
                    raise BindingError(function, f"{str(g)!r}: jogging lasts while one button "
                                                 f"is held, so it cannot be a chord")
                chord[g.buttons] = function  # type: ignore[index]
            else:
                (long if g.kind == "long" else press)[g.buttons[0]] = function
    bindings = Bindings(press, long, chord)
    for button, function in press.items():
        if bindings.waits(button) and function in REPEATS | HOLDS:
            other = [str(g) for f in FUNCTIONS for g in bindings.gestures(f)
                     if g.kind != "press" and button in g.buttons]
            what = "repeats" if function in REPEATS else "lasts"
            raise BindingError(function, f"{function} {what} while {button!r} is held, so "
                                         f"{button!r} cannot also have {', '.join(other)}")
    return bindings


@dataclass(frozen=True)
class Timing:
    bounce_time: float = 0.03
    hold_time: float = 0.6
    coarse_time: float = 1.8
    repeat_delay: float = 0.5
    repeat_time: float = 0.12

    @classmethod
    def of(cls, settings: Any) -> "Timing":
        return cls(**{f: getattr(settings, f) for f in cls.__dataclass_fields__})


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class Edge:
    """A button's contact closed (``down``) or opened, as gpiozero saw it."""
    button: str
    down: bool
    t: float


@dataclass(frozen=True)
class Touch:
    """A press was taken (before any gesture is decided)."""
    button: str
    t: float


@dataclass(frozen=True)
class Do:
    """The operator asked for ``function``."""
    function: str
    t: float


@dataclass(frozen=True)
class Hold:
    """A hold function: 1 started, 2 held long (coarse), 0 let go."""
    function: str
    stage: int
    t: float


# ------------------------------------------------------------------- state


@dataclass(frozen=True)
class _Key:
    """One button: its debounced contact and the gesture it is part of."""
    raw: bool = False             # the level of the last edge seen
    down: bool = False            # the level taken
    deaf_until: float = -math.inf  # edges before this are contact bounce
    since: float = 0.0            # when the press was taken
    used: bool = False            # its gesture has acted (or was captured)
    running: str = ""             # the repeat or hold function it keeps going
    stage: int = 0
    next_at: float = math.inf     # the next repeat or stage change


@dataclass(frozen=True)
class Keys:
    """Every button's state, and the bindings they are read with."""
    bindings: Bindings = field(default_factory=Bindings)
    keys: Mapping[str, _Key] = field(default_factory=dict)

    def down(self) -> list[str]:
        return [name for name, k in self.keys.items() if k.down]


def _get(keys: Keys, name: str) -> _Key:
    return keys.keys.get(name, _Key())


def _put(keys: Keys, name: str, key: _Key) -> Keys:
    return replace(keys, keys={**keys.keys, name: key})


def next_deadline(keys: Keys, timing: Timing) -> float | None:
    """When :func:`step` next needs a tick, if ever."""
    return min((when for _, when in _due(keys, timing)), default=None)


def step(keys: Keys, event: Edge | Any, timing: Timing, *,
         capture: bool = False) -> tuple[Keys, list[Any]]:
    """An :class:`Edge` or a tick (anything with ``t``) in; Touch/Do/Hold out.

    ``capture``: presses taken now only touch (a screen that any button
    dismisses); their gestures are used up.
    """
    t = event.t
    keys, out = _timers(keys, t, timing, capture)     # whatever fell due before this
    if isinstance(event, Edge):
        k = _get(keys, event.button)
        keys = _put(keys, event.button, replace(k, raw=event.down))
        if t >= k.deaf_until and event.down != k.down:
            keys, more = _take(keys, event.button, event.down, t, timing, capture)
            out += more
    return keys, out


def _timers(keys: Keys, t: float, timing: Timing, capture: bool) -> tuple[Keys, list[Any]]:
    """Settled contacts, long presses, repeats and hold stages due by ``t``, in order."""
    out: list[Any] = []
    while True:
        due = [(when, name) for name, when in _due(keys, timing) if when <= t]
        if not due:
            return keys, out
        when, name = min(due)
        keys, more = _fire(keys, name, when, timing, capture)
        out += more


def _due(keys: Keys, timing: Timing) -> Iterable[tuple[str, float]]:
    b = keys.bindings
    for name, k in keys.keys.items():
        if k.raw != k.down:
            yield name, k.deaf_until
        if k.down and not k.used and name in b.long:
            yield name, k.since + timing.hold_time
        if k.next_at < math.inf:
            yield name, k.next_at


def _fire(keys: Keys, name: str, when: float, timing: Timing,
          capture: bool) -> tuple[Keys, list[Any]]:
    k = _get(keys, name)
    b = keys.bindings
    if k.raw != k.down and when >= k.deaf_until:
        return _take(keys, name, k.raw, when, timing, capture)
    if k.down and not k.used and name in b.long and when >= k.since + timing.hold_time:
        function = b.long[name]
        k = replace(k, used=True)
        if function in HOLDS:
            k = replace(k, running=function, stage=1, next_at=k.since + timing.coarse_time)
            return _put(keys, name, k), [Hold(function, 1, when)]
        return _put(keys, name, k), [Do(function, when)]
    if k.next_at <= when:
        if k.running in HOLDS:
            return _put(keys, name, replace(k, stage=2, next_at=math.inf)), \
                [Hold(k.running, 2, k.next_at)]
        return (_put(keys, name, replace(k, next_at=k.next_at + timing.repeat_time)),
                [Do(k.running, k.next_at)])
    raise AssertionError(f"nothing due for {name} at {when}")


def _take(keys: Keys, name: str, down: bool, t: float, timing: Timing,
          capture: bool) -> tuple[Keys, list[Any]]:
    """A debounced change of ``name`` at ``t``."""
    k = _get(keys, name)
    deaf = t + timing.bounce_time
    b = keys.bindings
    if not down:
        out: list[Any] = []
        if k.running in HOLDS:
            out.append(Hold(k.running, 0, t))
        elif not k.used and name in b.press:
            out.append(Do(b.press[name], t))     # a waiting button's press
        return _put(keys, name, _Key(raw=k.raw, deaf_until=deaf)), out
    k = _Key(raw=k.raw, down=True, deaf_until=deaf, since=t)
    out = [Touch(name, t)]
    if capture:
        return _put(keys, name, replace(k, used=True)), out
    for other in keys.down():
        pair = tuple(sorted((name, other)))
        if other != name and pair in b.chord and not _get(keys, other).used:
            keys = _put(keys, other, replace(_get(keys, other), used=True))
            return _put(keys, name, replace(k, used=True)), out + [Do(b.chord[pair], t)]
    function = b.press.get(name)
    if function is None or b.waits(name):
        return _put(keys, name, k), out
    k = replace(k, used=True)
    if function in HOLDS:
        k = replace(k, running=function, stage=1, next_at=t + timing.coarse_time)
        return _put(keys, name, k), out + [Hold(function, 1, t)]
    if function in REPEATS:
        k = replace(k, running=function, next_at=t + timing.repeat_delay)
    return _put(keys, name, k), out + [Do(function, t)]


# -------------------------------------------------------------- the card


def describe(bindings: Bindings, buttons: Iterable[str] = BUTTONS) -> list[tuple[str, str]]:
    """The controls card: (gesture, what it does), button by button, then chords."""
    rows: list[tuple[str, str]] = []
    for button in buttons:
        for kind, table in (("press", bindings.press), ("long", bindings.long)):
            function = table.get(button)
            if function is None:
                continue
            gesture = button if kind == "press" else f"{button} long"
            what = WHAT[function]
            if function in REPEATS:
                what += " (repeats)"
            rows.append((gesture, what))
    for pair, function in sorted(bindings.chord.items()):
        rows.append(("+".join(pair), WHAT[function]))
    return rows
