"""Session scripts: what an operator's hands do, in virtual time.

One action per line; ``#`` starts a comment::

    +SECONDS ACTION [ARGS]

waits SECONDS of virtual time after the previous action has finished, then:

=====================  ==================================================
``press NAME``         does function NAME with the first gesture the config
                       binds to it (a press is 80 ms, a long press
                       ``ui.hold_time`` + 80 ms), or presses button NAME
``hold NAME SECONDS``  holds the button(s) of NAME's gesture down that long
``turn focus DETENTS`` turns the encoder (signed)
``drop SHARE``         from now on the camera silently loses this share
                       (0..1) of drive commands (simulator only)
``region X Y W H``     autofocus looks at this region from now on (fractions
                       of the frame, as a click on the web page sets it);
                       ``region middle`` goes back to the default
``wait idle``          waits until no homing, calibration, autofocus or
                       transition is running
=====================  ==================================================

and the scene changes (simulator only; ``docs/simulator.md``), each at once
or, with a last argument RAMP, over RAMP seconds of virtual time while the
script goes on (a scene can change during a pull):

===========================  ============================================
``subject STEPS [RAMP]``     the subject moves in depth to where the lens
                             is sharp at STEPS
``pan PIXELS [RAMP]``        the camera turns: the picture moves PIXELS
                             to the left (negative: to the right)
``dolly FACTOR [RAMP]``      the camera moves in until the subject looks
                             FACTOR times as large (below 1: moves out)
``walk SECONDS``             someone crosses the frame, nearer than the
                             subject, in SECONDS
``light FACTOR [RAMP]``      the exposure changes by FACTOR
===========================  ============================================

Names are functions (:data:`rig.controls.FUNCTIONS`) or buttons
(:data:`rig.controls.BUTTONS`).  A mistake stops the script before it runs,
with the file and line (one that depends on the profile, such as a dolly
through a layer, when the simulation starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .autofocus import check_roi
from .controls import BUTTONS, FUNCTIONS
from .inputs import InputError, read_text
from .sequencer import ENCODERS

__all__ = ["Action", "parse_script", "load_script", "PRESS_S"]

PRESS_S = 0.08
ACTIONS = ("press", "hold", "turn", "subject", "pan", "dolly", "walk", "light", "drop",
           "region", "wait")
SCENE_ACTIONS = ("subject", "pan", "dolly", "walk", "light")
MAX_RAMP_S = 3600.0
# what each scene action's first number may be: (name, low, high, low is allowed)
_SCENE_ARGS = {
    "subject": ("STEPS", -1e6, 1e6, True),
    "pan": ("PIXELS", -1e5, 1e5, True),
    "dolly": ("FACTOR", 0.0, 20.0, False),
    "light": ("FACTOR", 0.0, 100.0, False),
    "walk": ("SECONDS", 0.0, 600.0, False),
}


@dataclass(frozen=True)
class Action:
    line: int
    delay: float
    kind: str
    name: str = ""
    value: float = 0.0
    region: tuple[float, float, float, float] | None = None
    ramp: float = 0.0          # a scene action's seconds of change (0: at once)
    source: str = ""           # the script's file, for messages that come later


def _number(source: str, line: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(source, f"{what} must be a number, got {text!r}", line=line) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(source, f"{what} must be a finite number, got {text!r}", line=line)
    return value


def _need(source: str, line: int, args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise InputError(source, f"usage: {usage}", line=line)


def _input(source: str, line: int, name: str) -> str:
    if name not in FUNCTIONS and name not in BUTTONS:
        raise InputError(source, f"unknown input {name!r} (functions: {', '.join(FUNCTIONS)}; "
                                 f"buttons: {', '.join(BUTTONS)})", line=line)
    return name


def parse_script(text: str, source: str = "<script>") -> list[Action]:
    actions = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if not words[0].startswith("+"):
            raise InputError(source, f"a line starts with +SECONDS, got {words[0]!r}",
                             line=number)
        delay = _number(source, number, words[0][1:], "the wait")
        if delay < 0:
            raise InputError(source, f"the wait must be >= 0, got {delay:g}", line=number)
        if len(words) < 2:
            raise InputError(source, f"an action must follow the wait (one of "
                                     f"{', '.join(ACTIONS)})", line=number)
        kind, args = words[1], words[2:]

        if kind == "press":
            _need(source, number, args, 1, "press NAME")
            actions.append(Action(number, delay, kind, _input(source, number, args[0])))
        elif kind == "hold":
            _need(source, number, args, 2, "hold NAME SECONDS")
            name = _input(source, number, args[0])
            seconds = _number(source, number, args[1], "the hold")
            if not 0 < seconds <= 600:
                raise InputError(source, f"the hold must be 0..600 s, got {seconds:g}",
                                 line=number)
            actions.append(Action(number, delay, kind, name, seconds))
        elif kind == "turn":
            _need(source, number, args, 2, "turn focus DETENTS")
            if args[0] not in ENCODERS:
                raise InputError(source, f"unknown encoder {args[0]!r} (encoders: "
                                         f"{', '.join(ENCODERS)})", line=number)
            detents = _number(source, number, args[1], "DETENTS")
            if not detents.is_integer() or abs(detents) > 10000:
                raise InputError(source, f"DETENTS must be a whole number, got {args[1]!r}",
                                 line=number)
            actions.append(Action(number, delay, kind, args[0], detents))
        elif kind in SCENE_ACTIONS:
            what, low, high, closed = _SCENE_ARGS[kind]
            ramps = kind != "walk"
            usage = f"{kind} {what} [RAMP]" if ramps else f"{kind} {what}"
            if not 1 <= len(args) <= (2 if ramps else 1):
                raise InputError(source, f"usage: {usage}", line=number)
            value = _number(source, number, args[0], what)
            if closed:
                ok, rule = low <= value <= high, f"from {low:g} to {high:g}"
            else:
                ok, rule = low < value <= high, f"above {low:g} and at most {high:g}"
            if not ok:
                raise InputError(source, f"{what} must be {rule}, got {value:g}", line=number)
            ramp = 0.0
            if len(args) == 2:
                ramp = _number(source, number, args[1], "RAMP")
                if not 0 <= ramp <= MAX_RAMP_S:
                    raise InputError(source, f"RAMP must be 0..{MAX_RAMP_S:g} s, got {ramp:g}",
                                     line=number)
            actions.append(Action(number, delay, kind, "", value, ramp=ramp, source=source))
        elif kind == "drop":
            _need(source, number, args, 1, "drop SHARE")
            share = _number(source, number, args[0], "SHARE")
            if not 0 <= share <= 1:
                raise InputError(source, f"SHARE must be 0..1, got {share:g}", line=number)
            actions.append(Action(number, delay, kind, "", share))
        elif kind == "region":
            if args == ["middle"]:
                actions.append(Action(number, delay, kind, "middle"))
                continue
            _need(source, number, args, 4, "region X Y W H (fractions of the frame) or "
                                           "region middle")
            numbers = [_number(source, number, a, "a region's corner or size") for a in args]
            try:
                region = check_roi(numbers)
            except ValueError as exc:
                raise InputError(source, str(exc), line=number) from None
            actions.append(Action(number, delay, kind, region=region))
        elif kind == "wait":
            if args != ["idle"]:
                raise InputError(source, "usage: wait idle", line=number)
            actions.append(Action(number, delay, kind, "idle"))
        else:
            raise InputError(source, f"unknown action {kind!r} (actions: "
                                     f"{', '.join(ACTIONS)})", line=number)
    return actions


def load_script(path: str | Path) -> list[Action]:
    return parse_script(read_text(path), str(path))
