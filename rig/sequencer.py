"""Modes, points and buttons: the rig's functional core.

:func:`step` takes a :class:`State`, one event and the time in, and returns the
new state and a list of effects for the shell to carry out (move the lens,
save the sequence, ...).  Nothing here touches hardware, a clock or a file,
so every behaviour is tested in virtual time by feeding events.

The behaviour follows the focus_sq module (``docs/operating.md``):

* INFO cycles inactive -> edit -> play -> inactive.  The rig boots into play.
* Edit: SET stores the lens position in the current point (creating point 1
  if there is none); Q adds a point after the current one at the lens
  position, with the fastest transition; TRASH removes the current point;
  UP/DOWN change the current point's transition duration, showing the target
  first and then what the lens can achieve; LEFT/RIGHT go to the previous or
  next point as fast as possible (looping); AF focuses; JOG_NEAR/JOG_FAR
  (held) jog the lens, fine then coarse; the ``focus`` encoder nudges it;
  EASE switches the current point's transition between a straight line and
  ease-in-out.
* Play: SET runs the transition to the next point with its duration; Q goes
  back to point 1 as fast as possible, through the near stop first when the
  position's uncertainty is above ``uncertain_steps`` (``[position]
  rehome``).
* The scene (``[position] scene``): "moving", the default, where nothing
  the live view shows moves the lens; "still", where the worker checks each
  arrival against the scene learnt on entering play.  SCENE switches it,
  HOME homes on demand (any mode, the lens at rest).
* RATE turns the screen off and on, in every mode; HELP shows the controls
  card until any button is pressed.

Buttons reach the core as :class:`~rig.controls.Edge` events; the gesture
layer (:mod:`rig.controls`, pure as well) debounces them and works out
presses, long presses, chords, repeats and holds from the event times, never
from a library's timer thread.  What comes out is a function (:class:`Do`,
:class:`Hold`), and this module decides what it means in the current mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from . import controls
from .controls import FUNCTIONS, Bindings, Do, Edge, Hold, Keys, Timing, Touch
from .planner import LensModel, Plan, plan_move

__all__ = [
    "INPUTS", "FUNCTIONS", "Mode", "Activity", "Point", "Settings", "State", "Transition",
    "Highlight", "Edge", "Touch", "Do", "Hold",
    "Turn", "Tick", "Ready", "Progress", "Moved", "Checked", "Focused", "Fault", "Notice",
    "Move", "JogStart", "JogStop", "Nudge", "Autofocus", "SetRegion", "WebPage", "SaveSequence", "Screen",
    "Home",
    "Arm", "Skip", "SCENES", "SetScene", "Rehome",
    "AddPoint", "RemovePoint", "SetDuration", "SetEasing", "GoTo", "SetMode", "Jog", "Focus",
    "step", "next_deadline", "achievable", "initial_state", "refusal",
]

INPUTS = FUNCTIONS[:10]   # the ten functions of the focus_sq module
# "moving": nothing the live view shows moves the lens in play; "still": the
# live view checks each arrival against the scene learnt (docs/operating.md).
SCENES = ("moving", "still")
ENCODERS = ("focus",)


class Mode(Enum):
    INACTIVE = "inactive"
    EDIT = "edit"
    PLAY = "play"

    def next(self) -> "Mode":
        order = (Mode.INACTIVE, Mode.EDIT, Mode.PLAY)
        return order[(order.index(self) + 1) % 3]


class Activity(Enum):
    CONNECTING = "connecting"
    HOMING = "homing"
    LEARNING = "learning"     # checking or learning the scene for live-view position checks
    CALIBRATING = "calibrating"
    IDLE = "idle"
    MOVING = "moving"
    JOGGING = "jogging"
    FOCUSING = "focusing"
    FAULT = "fault"


@dataclass(frozen=True)
class Point:
    position: int
    duration: float = 0.0  # target seconds for the transition into this point; 0 = fastest
    easing: str = "linear"  # the trajectory into this point: "linear" or "ease" (in-out)


@dataclass(frozen=True)
class Settings(Timing):
    """The core's settings; the gesture timing (:class:`~rig.controls.Timing`) comes first."""
    highlight_time: float = 0.8
    duration_step: float = 0.1    # UP/DOWN change durations by this
    detent_steps: int = 1         # one encoder detent moves this many steps
    jog_fine: int = 1             # drive size while jogging fine
    jog_coarse: int = 3           # drive size while jogging coarse
    lead: float = 0.002           # start a transition this long after the press (plus latency)
    easing: str = "linear"        # the trajectory of new points
    scene: str = "moving"         # the scene at boot ([position] scene); SCENE switches it
    uncertain_steps: float = 4.0  # one sigma above which the OLED shows it and Q homes first
    rehome: bool = True           # Q in play goes through the near stop when uncertain


@dataclass(frozen=True)
class Transition:
    kind: str                 # "play" | "asap"
    from_index: int | None    # 0-based
    to_index: int
    start: int
    target: int
    t0: float
    duration: float


@dataclass(frozen=True)
class Highlight:
    what: str     # "mode" | "position" | "duration" | "index" | "points" | "busy"
    until: float
    text: str = ""


@dataclass(frozen=True)
class State:
    settings: Settings = field(default_factory=Settings)
    mode: Mode = Mode.PLAY
    activity: Activity = Activity.CONNECTING
    points: tuple[Point, ...] = ()
    index: int = 0
    position: int | None = None
    model: LensModel | None = None
    transition: Transition | None = None
    highlight: Highlight | None = None
    screen_on: bool = True
    keys: Keys = field(default_factory=Keys)   # the buttons (rig.controls)
    jogging: int = 0        # a jog button is held: its direction (-1 near, +1 far)
    help_since: float | None = None   # the help screen is up (since then)
    web_page: tuple[str, str] | None = None   # (address, token) once the page is served
    message: str = ""
    fault: str = ""         # what kind of fault: "camera", "lens_mf", "" (other)
    progress: tuple[str, float] | None = None
    nudge: int = 0          # encoder steps waiting for the nudge in flight to end
    trusted: bool = True    # the lens position is known well enough to rely on
    uncertainty: float = 0.0   # the position's one sigma, in steps (the lens says)
    scene: str = "moving"   # "moving" or "still" (SCENES): what the live view may do
    rehomed: bool = False   # homed again for this doubt already: do not loop
    arm: bool = False       # into play while busy: check the scene once the lens is free
    distance_m: float | None = None
    # Where autofocus looks: x, y, w, h as fractions of the live view; None is
    # the middle of the frame (autofocus.DEFAULT_ROI).
    af_region: tuple[float, float, float, float] | None = None
    # Notices that came while the rig was busy (boot, a move, a fault: screens
    # with no room for them), shown once it is idle: an operator must see
    # "restored from backup".
    notices: tuple[str, ...] = ()


def initial_state(points: tuple[Point, ...] = (), settings: Settings | None = None,
                  bindings: Bindings | None = None) -> State:
    settings = settings or Settings()
    return State(settings=settings, points=tuple(points), keys=Keys(bindings or Bindings()),
                 scene=settings.scene)


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class Turn:
    name: str
    detents: int
    t: float


@dataclass(frozen=True)
class Tick:
    t: float


@dataclass(frozen=True)
class Ready:
    """The lens is homed (and calibrated): its position is known."""
    model: LensModel
    position: int
    t: float
    uncertainty: float = 0.0


@dataclass(frozen=True)
class Progress:
    activity: Activity
    phase: str
    fraction: float
    t: float


@dataclass(frozen=True)
class Moved:
    """A move, jog or nudge has ended with the lens at ``position``.

    ``checking``: the lens has stopped and the worker now checks where it
    landed (live view); the next press may start the next pull meanwhile,
    and :class:`Checked` brings the result if nothing else came first.
    """
    position: int
    t: float
    trusted: bool = True
    checking: bool = False
    uncertainty: float = 0.0


@dataclass(frozen=True)
class Checked:
    """The check after a move: where the picture (or the camera) puts the lens."""
    position: int
    t: float
    trusted: bool = True
    uncertainty: float = 0.0


@dataclass(frozen=True)
class Focused:
    position: int
    ok: bool
    reason: str
    t: float
    trusted: bool = True
    uncertainty: float = 0.0


@dataclass(frozen=True)
class Fault:
    message: str
    t: float
    kind: str = ""    # "camera" (lost), "lens_mf" (does not move): a screen of its own


@dataclass(frozen=True)
class Notice:
    """Something the operator should know, already dealt with (shown a few seconds)."""
    text: str
    t: float
    kind: str = ""    # "liveview": live view was off (a screen of its own)


@dataclass(frozen=True)
class WebPage:
    """The web page is served at ``address`` behind ``token`` (the help screen shows both)."""
    address: str
    token: str
    t: float


@dataclass(frozen=True)
class SetRegion:
    """Autofocus looks here from now on (x, y, w, h as fractions; None: the middle).

    The shell validates the numbers (``autofocus.check_roi``) before it
    makes the event: the core takes them as given.
    """
    region: tuple[float, float, float, float] | None
    t: float


# Edits from the web page (rig.web).  The buttons' rules apply: the sequence,
# the lens and AF are edit-mode business, and the lens must be free to move.
# :func:`refusal` says why one would be refused, so the page can answer with
# that before sending it; the core checks again (the state may have moved on)
# and then only flashes the reason on the OLED: nothing changes.


@dataclass(frozen=True)
class AddPoint:
    """A point after the current one at the lens position (the Q button)."""
    t: float


@dataclass(frozen=True)
class RemovePoint:
    index: int   # 0-based
    t: float


@dataclass(frozen=True)
class SetDuration:
    """The transition into point ``index`` takes ``seconds``; below what the lens
    can do it is stored as 0, "as fast as possible" (as the DOWN button does)."""
    index: int
    seconds: float
    t: float


@dataclass(frozen=True)
class SetEasing:
    index: int
    easing: str   # planner.EASINGS
    t: float


@dataclass(frozen=True)
class GoTo:
    """Go to point ``index`` as fast as possible (LEFT/RIGHT, to any point)."""
    index: int
    t: float


@dataclass(frozen=True)
class SetMode:
    mode: Mode
    t: float


@dataclass(frozen=True)
class SetScene:
    """The scene is "moving" or "still" from now on (SCENES; the web page checks it)."""
    scene: str
    t: float


@dataclass(frozen=True)
class Rehome:
    """Home now, then back to where the lens was (the HOME function)."""
    t: float


@dataclass(frozen=True)
class Jog:
    """Move the lens by ``steps`` (the focus wheel's nudge, any size)."""
    steps: int
    t: float


@dataclass(frozen=True)
class Focus:
    """Autofocus now, in the current AF region (the AF button)."""
    t: float


# ----------------------------------------------------------------- effects


@dataclass(frozen=True)
class Move:
    transition: Transition
    plan: Plan
    # The pull the operator will likely ask for next, (target, duration,
    # easing): the lens takes up its play toward it while it waits.
    then: tuple[int, float, str] | None = None
    # "still" scene: check the arrival in the live view (and correct it);
    # "moving": never (only a camera's own reading, where it gives one).
    look: bool = False
    # Home into the near stop first, then make the move from there (Q in
    # play while the position is uncertain).
    home_first: bool = False


@dataclass(frozen=True)
class JogStart:
    direction: int
    size: int


@dataclass(frozen=True)
class JogStop:
    pass


@dataclass(frozen=True)
class Nudge:
    steps: int


@dataclass(frozen=True)
class Autofocus:
    region: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Home:
    """Find the reference again, then come back to where the lens was."""


@dataclass(frozen=True)
class Arm:
    """Before the takes (edit -> play): make sure the live view can check positions.

    The worker looks whether the scene it learnt still holds; if not, it
    homes and learns the scene up to past ``farthest`` (the farthest point).
    """
    farthest: int


@dataclass(frozen=True)
class Skip:
    """A button pressed while the scene is being learnt: stop, keep what is learnt."""


@dataclass(frozen=True)
class SaveSequence:
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Screen:
    on: bool


Effect = Any


# ----------------------------------------------------------------- helpers


def achievable(state: State, index: int) -> float | None:
    """The duration the lens will take into point ``index`` (None for point 1)."""
    if index <= 0 or index >= len(state.points) or state.model is None:
        return None
    a, b = state.points[index - 1], state.points[index]
    return plan_move(a.position, b.position, b.duration, state.model, b.easing).duration_s


def _flash(state: State, what: str, t: float, text: str = "") -> State:
    return replace(state, highlight=Highlight(what, t + state.settings.highlight_time, text))


def _move(state: State, kind: str, to_index: int, t: float, *,
          from_index: int | None, home_first: bool = False) -> tuple[State, list[Effect]]:
    assert state.model is not None and state.position is not None
    point = state.points[to_index]
    duration, easing = (point.duration, point.easing) if kind == "play" else (0.0, "linear")
    start = 0 if home_first else state.position
    plan = plan_move(start, point.position, duration, state.model, easing)
    # The first command goes out ``lead`` after the press and takes effect a
    # latency later; the plan may want it a little after the curve starts
    # (commands[0].t), so the curve starts that much earlier rather than the
    # command going out later: the lens answers the thumb at once.  (Never
    # before the press itself.)
    first = plan.commands[0].t if plan.commands else 0.0
    t0 = t + max(0.0, state.model.latency + state.settings.lead - first)
    tr = Transition(kind, from_index, to_index, start, point.position, t0, plan.duration_s)
    then = _next_pull(state, to_index) if state.mode == Mode.PLAY else None
    return (replace(state, activity=Activity.MOVING, transition=tr),
            [Move(tr, plan, then, look=state.scene == "still", home_first=home_first)])


def _next_pull(state: State, index: int) -> tuple[int, float, str] | None:
    """In play, after point ``index``: SET pulls to the next point, or Q back to the first."""
    points = state.points
    if index + 1 < len(points):
        p = points[index + 1]
        return p.position, p.duration, p.easing
    return (points[0].position, 0.0, "linear") if index > 0 else None


def _save(state: State) -> list[Effect]:
    return [SaveSequence(state.points)]


def _format_s(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _toggle_easing(state: State, t: float) -> tuple[State, list[Effect]]:
    """Straight line or ease-in-out for the transition into the current point."""
    if state.index <= 0 or state.index >= len(state.points):
        return _flash(state, "busy", t, "no transition"), []
    points = list(state.points)
    point = points[state.index]
    points[state.index] = replace(point, easing="linear" if point.easing == "ease" else "ease")
    state = replace(state, points=tuple(points))
    return _flash(state, "easing", t, points[state.index].easing), _save(state)


def _nudge_duration(state: State, direction: int, t: float) -> tuple[State, list[Effect]]:
    if state.index <= 0 or state.index >= len(state.points):
        return _flash(state, "busy", t, "no transition"), []
    shown = achievable(state, state.index) or 0.0
    grid = state.settings.duration_step
    if direction > 0:
        target = (math.floor(shown / grid + 1e-6) + 1) * grid
    else:
        target = max(0.0, (math.ceil(shown / grid - 1e-6) - 1) * grid)
        assert state.model is not None
        a, b = state.points[state.index - 1], state.points[state.index]
        if target < plan_move(a.position, b.position, 0.0, state.model).fastest_s - 1e-9:
            target = 0.0  # below what the lens can do: "as fast as possible"
    target = round(target, 6)
    points = list(state.points)
    points[state.index] = replace(points[state.index], duration=target)
    state = replace(state, points=tuple(points))
    return _flash(state, "duration", t, _format_s(target)), _save(state)


# -------------------------------------------------------------------- step


def step(state: State, event: Any) -> tuple[State, list[Effect]]:
    """Apply one event; return the new state and what the shell must do."""
    t = event.t
    if state.highlight is not None and state.highlight.until <= t:
        state = replace(state, highlight=None)
    if isinstance(event, Edge):
        return _gestures(state, event)
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"unknown event {event!r}")
    state, effects = _gestures(state, Tick(t))  # long presses and repeats due by now
    state, more = handler(state, event)
    if state.notices and state.activity == Activity.IDLE:
        state = replace(_notify(state, "; ".join(state.notices), t), notices=())
    return state, effects + more


def next_deadline(state: State) -> float | None:
    """When the core next needs a :class:`Tick`, if ever."""
    times = [controls.next_deadline(state.keys, state.settings)]
    if state.highlight is not None:
        times.append(state.highlight.until)
    return min((x for x in times if x is not None), default=None)


def _captures(state: State) -> bool:
    """A screen that any button dismisses: the help, learning the scene."""
    return state.help_since is not None or state.activity == Activity.LEARNING


def _gestures(state: State, event: Any) -> tuple[State, list[Effect]]:
    """Button edges and time through the gesture layer, then each function."""
    keys, asked = controls.step(state.keys, event, state.settings, capture=_captures(state))
    state = replace(state, keys=keys)
    effects: list[Effect] = []
    for what in asked:
        state, more = _FUNCTION_HANDLERS[type(what)](state, what)
        effects += more
    return state, effects


def _on_touch(state: State, ev: Touch) -> tuple[State, list[Effect]]:
    if state.help_since is not None:
        return replace(state, help_since=None), []
    if state.activity == Activity.LEARNING:
        return state, [Skip()]  # any button: the takes matter more than the check
    return state, []


def _on_do(state: State, ev: Do) -> tuple[State, list[Effect]]:
    name, t = ev.function, ev.t
    if name == "help":
        return replace(state, help_since=t), []
    if name == "rate":
        on = not state.screen_on
        return replace(state, screen_on=on), [Screen(on)]
    if name == "scene":
        return _set_scene(state, SCENES[1 - SCENES.index(state.scene)], t)
    if name == "home":
        return _rehome(state, t)
    if name == "info":
        return _enter_mode(state, state.mode.next(), t)
    if state.mode == Mode.EDIT:
        return _edit_do(state, name, t)
    if state.mode == Mode.PLAY:
        return _play_do(state, name, t)
    return state, []


def _enter_mode(state: State, mode: Mode, t: float) -> tuple[State, list[Effect]]:
    state = _flash(replace(state, mode=mode, arm=mode == Mode.PLAY), "mode", t)
    return _check_trust(state) if mode != Mode.PLAY else _arm(state)


def _set_scene(state: State, scene: str, t: float) -> tuple[State, list[Effect]]:
    """Moving or still from now on; into "still" in play, the scene is learnt once free."""
    if scene == state.scene:
        return _flash(state, "scene", t, f"scene {scene}"), []
    state = _flash(replace(state, scene=scene, arm=scene == "still" and state.mode == Mode.PLAY),
                   "scene", t, f"scene {scene}")
    return _arm(state)


def _rehome(state: State, t: float) -> tuple[State, list[Effect]]:
    """Home on demand, then back to where the lens was: any mode, the lens at rest."""
    if not _idle(state) or state.jogging:
        return _flash(state, "busy", t, "wait"), []
    return replace(state, activity=Activity.HOMING, progress=("homing", 0.0)), [Home()]


def _remove_point(state: State, index: int, t: float) -> tuple[State, list[Effect]]:
    points = state.points[:index] + state.points[index + 1:]
    current = state.index - 1 if index < state.index else state.index
    state = replace(state, points=points, index=max(0, min(current, len(points) - 1)))
    return _flash(state, "points", t), _save(state)


def _add_point(state: State, t: float) -> tuple[State, list[Effect]]:
    """A point after the current one, at the lens position, fastest transition."""
    assert state.position is not None
    at = state.index + 1 if state.points else 0
    new = Point(state.position, easing=state.settings.easing)
    state = replace(state, points=state.points[:at] + (new,) + state.points[at:], index=at)
    return _flash(state, "points", t), _save(state)


def _focus(state: State) -> tuple[State, list[Effect]]:
    return replace(state, activity=Activity.FOCUSING, message=""), [Autofocus(state.af_region)]


def _idle(state: State) -> bool:
    return state.activity == Activity.IDLE and state.position is not None


def _edit_do(state: State, name: str, t: float) -> tuple[State, list[Effect]]:
    if name in ("up", "down"):
        return _nudge_duration(state, 1 if name == "up" else -1, t)
    if name == "ease":
        return _toggle_easing(state, t)
    if name == "trash":
        if not state.points:
            return _flash(state, "busy", t, "no points"), []
        return _remove_point(state, state.index, t)
    if name in ("left", "right"):
        # Go to the previous / next point as fast as possible, looping.
        if not state.points or not _idle(state):
            return state, []
        step_ = -1 if name == "left" else 1
        return _move(state, "asap", (state.index + step_) % len(state.points), t,
                     from_index=state.index)
    if not _idle(state):
        return _flash(state, "busy", t, "wait"), []
    assert state.position is not None
    if name == "set":
        if not state.points:
            state = replace(state, points=(Point(state.position,
                                                 easing=state.settings.easing),), index=0)
        else:
            points = list(state.points)
            points[state.index] = replace(points[state.index], position=state.position)
            state = replace(state, points=tuple(points))
        return _flash(state, "position", t), _save(state)
    if name == "q":
        return _add_point(state, t)
    if name == "af":
        return _focus(state)
    return state, []


def _play_do(state: State, name: str, t: float) -> tuple[State, list[Effect]]:
    if name not in ("set", "q"):
        return state, []
    if not state.points:
        return _flash(state, "busy", t, "no points"), []
    if not _idle(state):
        return state, []  # one transition at a time; a press mid-pull is ignored
    if name == "set":
        if state.index + 1 >= len(state.points):
            return _flash(state, "busy", t, "last point"), []
        return _move(state, "play", state.index + 1, t, from_index=state.index)
    # Back to point 1: through the near stop first when the position is in
    # doubt, between takes, where it costs nothing.
    s = state.settings
    home_first = s.rehome and state.uncertainty > s.uncertain_steps
    return _move(state, "asap", 0, t, from_index=state.index, home_first=home_first)


def _on_hold(state: State, ev: Hold) -> tuple[State, list[Effect]]:
    """Jogging: fine from stage 1, coarse from stage 2, until let go (stage 0)."""
    direction = -1 if ev.function == "jog_near" else 1
    s = state.settings
    if ev.stage == 0:
        if state.jogging != direction:
            return state, []
        return replace(state, jogging=0), [JogStop()]
    if ev.stage == 1:
        if state.mode != Mode.EDIT or state.jogging or state.activity not in (
                Activity.IDLE, Activity.JOGGING) or state.position is None:
            return state, []  # held while busy: this hold does nothing
        return (replace(state, jogging=direction, activity=Activity.JOGGING),
                [JogStart(direction, s.jog_fine)])
    # Coarse only while the jog still runs: a camera lost or come back
    # meanwhile (a fault, a move to the current point) has ended it.
    if state.jogging != direction or state.activity != Activity.JOGGING:
        return state, []
    return state, [JogStart(direction, s.jog_coarse)]


_FUNCTION_HANDLERS = {Touch: _on_touch, Do: _on_do, Hold: _on_hold}


def _on_turn(state: State, ev: Turn) -> tuple[State, list[Effect]]:
    """The focus wheel: one nudge in flight at a time, the rest add up meanwhile."""
    if state.mode != Mode.EDIT or ev.detents == 0 or state.position is None:
        return state, []
    return _nudge_lens(state, ev.detents * state.settings.detent_steps)


def _nudge_lens(state: State, steps: int) -> tuple[State, list[Effect]]:
    if state.activity == Activity.JOGGING:
        return replace(state, nudge=state.nudge + steps), []
    if state.activity != Activity.IDLE:
        return state, []
    return replace(state, activity=Activity.JOGGING), [Nudge(steps)]


def _on_tick(state: State, ev: Tick) -> tuple[State, list[Effect]]:
    return state, []  # the timers ran in step()


def _on_ready(state: State, ev: Ready) -> tuple[State, list[Effect]]:
    """Homed: at boot go to point 1; after a lost camera, back to the current point."""
    state = replace(state, model=ev.model, position=ev.position, activity=Activity.IDLE,
                    progress=None, message="", transition=None, trusted=True,
                    uncertainty=ev.uncertainty)
    if state.points:
        index = min(state.index, len(state.points) - 1)
        state = replace(state, index=index)
        return _move(state, "asap", index, ev.t, from_index=None)  # from the stop
    return state, []


def _arm(state: State) -> tuple[State, list[Effect]]:
    """Into play: the last moment before the takes to check the scene (once free)."""
    if not (state.arm and state.mode == Mode.PLAY and _idle(state)
            and not state.jogging):
        return state, []
    state = replace(state, arm=False)
    if not state.points or state.scene != "still":
        return state, []   # a moving scene: nothing to learn, the takes start at once
    farthest = max(p.position for p in state.points)
    return (replace(state, activity=Activity.LEARNING, progress=("checking", 0.0)),
            [Arm(farthest)])


def _rehome_allowed(state: State) -> bool:
    """Never during a take: only in edit or inactive mode, with the lens at rest."""
    return (state.mode != Mode.PLAY and state.activity == Activity.IDLE
            and not state.jogging)


def _check_trust(state: State) -> tuple[State, list[Effect]]:
    """Home again once when the position is in doubt and it is allowed."""
    if state.trusted:
        return replace(state, rehomed=False), []
    if not state.rehomed and _rehome_allowed(state):
        return replace(state, activity=Activity.HOMING, progress=("homing", 0.0),
                       rehomed=True), [Home()]
    return state, []


def _on_progress(state: State, ev: Progress) -> tuple[State, list[Effect]]:
    if state.activity == Activity.FAULT and (ev.activity != Activity.CONNECTING
                                             or state.fault == "camera"):
        # The worker tries again: the fault (what to fix, or "camera lost")
        # stays on the screen, with why it is still waiting, until the lens
        # is ready.
        return replace(state, progress=(ev.phase, ev.fraction)), []
    return replace(state, activity=ev.activity, progress=(ev.phase, ev.fraction)), []


def _on_moved(state: State, ev: Moved) -> tuple[State, list[Effect]]:
    index = state.index
    if state.transition is not None:
        index = state.transition.to_index
    # While the arrival is checked, the trust stays as it was until the check says.
    state = replace(state, position=ev.position, index=index, transition=None,
                    trusted=state.trusted if ev.checking else ev.trusted,
                    uncertainty=state.uncertainty if ev.checking else ev.uncertainty)
    if ev.checking:
        return replace(state, activity=Activity.IDLE, progress=None), []
    if state.nudge:
        return replace(state, nudge=0, activity=Activity.JOGGING), [Nudge(state.nudge)]
    state = replace(state, activity=Activity.JOGGING if state.jogging else Activity.IDLE,
                    progress=None)
    state, effects = _check_trust(state)
    return (state, effects) if effects else _arm(state)


def _on_checked(state: State, ev: Checked) -> tuple[State, list[Effect]]:
    """The check's verdict, unless the lens has been given something else meanwhile."""
    if state.transition is not None or state.activity != Activity.IDLE:
        return state, []
    state = replace(state, position=ev.position, trusted=ev.trusted,
                    uncertainty=ev.uncertainty)
    state, effects = _check_trust(state)
    return (state, effects) if effects else _arm(state)


def _on_focused(state: State, ev: Focused) -> tuple[State, list[Effect]]:
    state = replace(state, position=ev.position, activity=Activity.IDLE,
                    message="" if ev.ok else ev.reason, trusted=ev.trusted,
                    uncertainty=ev.uncertainty)
    return _flash(state, "position" if ev.ok else "busy", ev.t,
                  "" if ev.ok else "AF failed"), []


def _on_web_page(state: State, ev: WebPage) -> tuple[State, list[Effect]]:
    return replace(state, web_page=(ev.address, ev.token)), []


def _on_set_region(state: State, ev: SetRegion) -> tuple[State, list[Effect]]:
    return replace(state, af_region=ev.region), []


def _on_notice(state: State, ev: Notice) -> tuple[State, list[Effect]]:
    if state.activity != Activity.IDLE:
        if ev.text in state.notices:
            return state, []
        return replace(state, notices=state.notices + (ev.text,)), []
    return _notify(state, ev.text, ev.t, ev.kind), []


def _notify(state: State, text: str, t: float, kind: str = "") -> State:
    """A banner for a few seconds; ``kind`` "liveview" has a screen of its own."""
    return replace(state, highlight=Highlight(kind or "busy",
                                              t + 4 * state.settings.highlight_time, text))


def _on_fault(state: State, ev: Fault) -> tuple[State, list[Effect]]:
    return replace(state, activity=Activity.FAULT, message=ev.message, fault=ev.kind,
                   transition=None), []


# ------------------------------------------------------------ web edits


def refusal(state: State, ev: Any) -> str | None:
    """Why the core would refuse ``ev`` (a web edit) in ``state``, or None."""
    if isinstance(ev, (SetMode, SetRegion)):
        return None
    if isinstance(ev, SetScene):
        if ev.scene not in SCENES:
            return f"scene must be one of {', '.join(SCENES)}, got {ev.scene!r}"
        return None
    if isinstance(ev, Rehome):
        if not _idle(state) or state.jogging:
            return f"the lens is busy ({state.activity.value}): try again when it stops"
        return None
    if state.mode != Mode.EDIT:
        return f"switch to edit mode first (the rig is in {state.mode.value} mode)"
    index = getattr(ev, "index", None)
    if index is not None and not 0 <= index < len(state.points):
        have = len(state.points)
        return (f"there is no point {index + 1}: the sequence has "
                f"{have} point{'' if have == 1 else 's'}")
    if isinstance(ev, (SetDuration, SetEasing)) and index == 0:
        return "point 1 has no transition into it: set the duration of the point it goes to"
    if isinstance(ev, SetDuration) and state.model is None:
        return "the lens is not ready yet: its speed is not known"
    if isinstance(ev, Jog) and state.position is not None and \
            state.activity in (Activity.IDLE, Activity.JOGGING):
        return None
    if isinstance(ev, (AddPoint, GoTo, Focus, Jog)) and not _idle(state):
        return f"the lens is busy ({state.activity.value}): try again when it stops"
    return None


def _on_web(state: State, ev: Any) -> tuple[State, list[Effect]]:
    why = refusal(state, ev)
    if why is not None:
        return _flash(state, "busy", ev.t, "refused"), []
    t = ev.t
    if isinstance(ev, SetMode):
        return (state, []) if ev.mode == state.mode else _enter_mode(state, ev.mode, t)
    if isinstance(ev, SetScene):
        return _set_scene(state, ev.scene, t)
    if isinstance(ev, Rehome):
        return _rehome(state, t)
    if isinstance(ev, AddPoint):
        return _add_point(state, t)
    if isinstance(ev, RemovePoint):
        return _remove_point(state, ev.index, t)
    if isinstance(ev, GoTo):
        return _move(state, "asap", ev.index, t, from_index=state.index)
    if isinstance(ev, Focus):
        return _focus(state)
    if isinstance(ev, Jog):
        return _nudge_lens(state, ev.steps) if ev.steps else (state, [])
    points = list(state.points)
    point = points[ev.index]
    if isinstance(ev, SetEasing):
        points[ev.index] = replace(point, easing=ev.easing)
        state = replace(state, points=tuple(points))
        return _flash(state, "easing", t, ev.easing), _save(state)
    assert isinstance(ev, SetDuration) and state.model is not None
    seconds = round(max(0.0, ev.seconds), 6)
    fastest = plan_move(points[ev.index - 1].position, point.position, 0.0,
                        state.model).fastest_s
    if seconds < fastest - 1e-9:
        seconds = 0.0  # below what the lens can do: "as fast as possible", as DOWN does
    points[ev.index] = replace(point, duration=seconds)
    state = replace(state, points=tuple(points))
    return _flash(state, "duration", t, _format_s(seconds)), _save(state)


_HANDLERS = {
    Turn: _on_turn, Tick: _on_tick, **_FUNCTION_HANDLERS,
    Ready: _on_ready, Progress: _on_progress, Moved: _on_moved, Checked: _on_checked,
    Focused: _on_focused,
    Fault: _on_fault, Notice: _on_notice, SetRegion: _on_set_region,
    WebPage: _on_web_page,
    AddPoint: _on_web, RemovePoint: _on_web, SetDuration: _on_web, SetEasing: _on_web,
    GoTo: _on_web, SetMode: _on_web, Jog: _on_web, Focus: _on_web,
    SetScene: _on_web, Rehome: _on_web,
}
