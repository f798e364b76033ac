"""``rig simulate``: the real app, driven by a script, in virtual time.

The app runs unchanged: gpiozero inputs on a ``MockFactory`` whose pins the
script drives, the lens layer against :class:`~rig.sim.SimCamera`, the
display on luma's ``dummy`` device.  The harness alone reads the
simulator's truth (where the lens really is) to write the report; the lens
layer never sees it.

Report (JSON)::

    {"lens": {calibration},
     "transitions": [{"kind", "from", "to", "start_step", "target_step", "true_step",
                      "true_position", "planned_s", "actual_s", "max_tracking_error_steps",
                      "commands", "late_commands", "counts", "expected_landing_steps",
                      "rig_position", "sigma_steps", "bound_steps"}],
     "autofocus": [{"subject", "result_step", "true_step", "true_position", "sigma_steps",
                    "bound_steps", "frames", "moves", "region", "ok", "reason" (when not ok)}],
     "unasked_motions": [{"t0", "t1", "x0", "x1"}],
     "errors": [],
     "end_step"}

``end_step`` is where the lens really is when the script ends (truth, to
the fraction of a step).  ``from``/``to`` are 1-based point indices (``from`` is 0 for the move after
homing); ``start_step`` is where the rig believed the lens was when it set
out, 0 for a Q that went through the near stop first.  ``actual_s`` runs from the transition's start to the end of the
lens's last motion, in the simulator's truth, and ``true_position`` is
where it settled, to the fraction of a step.  ``max_tracking_error_steps``
is the largest distance between the true position and the straight line
from the true start to the target over the planned duration.  ``counts``
are the commands of each size of the plan that ran (from where the lens
was when it set out: from the stop after a Q through it), and
``expected_landing_steps`` the landing error that plan expects.
``rig_position`` and ``sigma_steps`` are where the rig counted the lens
when the move ended and the uncertainty it kept for that count (one sigma,
steps: :class:`rig.position.Tracked`); ``bound_steps`` is how far the
landing may be off its target: 0 on a lens whose commands repeat (the
simulator's truth: no drive spreads), else 3 sigma (None: the rig had lost
its count).  :func:`on_mark` applies it, for ``rig demo``, ``rig
simulate`` and the tests.
``unasked_motions`` are the lens's true motions in play mode (once the lens
is ready: not the boot's calibration and homing) that no press
asked for: outside every transition's execution (from its start to its
last command's motion; a live-view correction after it counts as unasked)
and outside a homing the operator asked for.

:func:`simulate_boot` runs ``rig run``'s own entry point
(:class:`rig.service.Service`) the same way: the camera appears after a
while, and every OLED frame is kept with the state it showed
(``tests/test_boot.py``, ``tools/boot_strip.py``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory
from luma.core.device import dummy

from .app import App, load_state
from .autofocus import AFResult
from .calibration import Calibration
from .clock import VirtualClock
from .config import Config, load_config
from .buttons import Buttons
from .controls import FUNCTIONS, Bindings
from .display import GifRecorder
from .calibrate import CalibrationSettings
from .inputs import InputError
from .lens import Execution
from .planner import Plan
from .script import PRESS_S, SCENE_ACTIONS, Action
from .notify import Notifier
from .sequencer import Activity, Mode, SetRegion, State, Transition
from .sim import Profile, SceneError, SimBody, make_scene
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["simulate", "Report", "SimulationError", "simulate_boot", "BootRun", "BootFrame",
           "check_scene", "act_on_scene", "commands_spread", "landing_bound", "on_mark", "af_on_mark",
           "LANDING_SIGMAS", "ON_STEP"]

IDLE_LIMIT_S = 3600.0   # "wait idle" gives up after an hour of virtual time
EDGE_S = 0.004          # between quadrature edges of one encoder detent
CHORD_S = 0.03          # between the two buttons of a chord

# The landing rule (docs/simulator.md, "Did the lens land on its mark?").
LANDING_SIGMAS = 3.0    # the position model's bound: 99.73 % of landings (docs/cameras.md)
ON_STEP = 0.5           # "on the target's step": the count lands within half a step of it


def commands_spread(profile: Profile) -> bool:
    """Whether this simulated lens's drive commands spread (the truth, not the rig's view).

    A size whose steps are drawn around their mean (``jitter``), or a Nikon
    move's units; a Fuji goes to absolute positions.  Lost commands, slips
    and backlash are not spread: the position model's bound does not cover
    them.
    """
    if profile.vendor == "fuji":
        return False
    if profile.vendor == "nikon" and float(profile.options.get("jitter", 0.0)) > 0:
        return True
    return any(d.jitter > 0 for d in profile.drive.values())


def landing_bound(spreads: bool, sigma: float) -> float | None:
    """How far a landing may end off its target, steps (beyond :data:`ON_STEP`).

    0 where the commands repeat: the landing must be exact, whatever the
    rig's uncertainty says (it also grows with time).  Where they spread,
    the position model's own bound: :data:`LANDING_SIGMAS` times the
    uncertainty the rig kept for that landing.  None if the rig did not
    know where the lens was (no bound: only an exact landing passes).
    """
    if not spreads:
        return 0.0
    if not math.isfinite(sigma):
        return None
    return round(LANDING_SIGMAS * sigma, 3)


def af_on_mark(af: dict[str, Any]) -> bool:
    """Did an autofocus end where the rig counts it, within the same bound?"""
    return on_mark({**af, "target_step": af["result_step"]})


def on_mark(transition: dict[str, Any]) -> bool:
    """Did a report's transition land on its mark?

    With a bound (a lens whose commands spread): within it of the target,
    plus half a step (the count itself lands on the target's step, the
    truth within the bound of the count).  Without one: exactly on the
    target's step.
    """
    bound = transition.get("bound_steps") or 0.0
    if bound <= 0:
        return transition["true_step"] == transition["target_step"]
    return abs(transition["true_position"] - transition["target_step"]) <= bound + ON_STEP


class SimulationError(Exception):
    pass


@dataclass
class Report:
    lens: dict[str, Any] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    autofocus: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unasked_motions: list[dict[str, float]] = field(default_factory=list)
    virtual_s: float = 0.0
    frames: int = 0
    end_step: float | None = None   # where the lens really is at the end (truth)

    def to_json(self) -> dict[str, Any]:
        return {"lens": self.lens, "transitions": self.transitions,
                "autofocus": self.autofocus, "unasked_motions": self.unasked_motions,
                "errors": self.errors, "end_step": self.end_step}


class _Watcher:
    """The observer that compares what the rig did with the simulator's truth."""

    def __init__(self, sim: SimBody, report: Report) -> None:
        self.sim = sim
        self.report = report
        self.spreads = commands_spread(sim.profile)
        self.calibrating_until = 0.0
        self.learning: list[tuple[float, float]] = []
        self._first_segment = 0
        self._started = 0.0
        # When the lens was asked to move: each transition's execution, each
        # homing; and when the rig stood in play (from the app's states).
        self.asked: list[tuple[float, float]] = []
        self.play: list[list[float]] = []
        self._homing_since: float | None = None

    def state(self, state: State) -> None:
        """Each new state of the core (an app listener): play mode and homings."""
        now = self.sim.clock.now()
        # In play with a lens ready (not the boot's calibration and homing).
        playing = state.mode == Mode.PLAY and state.model is not None
        if playing and (not self.play or self.play[-1][1] < math.inf):
            self.play.append([now, math.inf])
        elif not playing and self.play and self.play[-1][1] == math.inf:
            self.play[-1][1] = now
        homing = state.activity == Activity.HOMING
        if homing and self._homing_since is None:
            self._homing_since = now
        elif not homing and self._homing_since is not None:
            self.asked.append((self._homing_since, now))
            self._homing_since = None

    def unasked(self) -> list[dict[str, float]]:
        """The lens's true motions in play that nothing asked for (see the report)."""
        out = []
        for seg in self.sim.truth.segments:
            if abs(seg.x1 - seg.x0) < 1e-6:
                continue
            if not any(a <= seg.t0 < b for a, b in self.play):
                continue
            if any(a - 1e-9 <= seg.t0 <= b + 1e-9 for a, b in self.asked):
                continue
            out.append({"t0": round(seg.t0, 6), "t1": round(seg.t1, 6),
                        "x0": round(seg.x0, 3), "x1": round(seg.x1, 3)})
        return out

    def calibrated(self, cal: Calibration) -> None:
        self.report.lens = cal.to_json()
        self.calibrating_until = self.sim.clock.now()

    def transition_started(self, tr: Transition, plan: Plan) -> None:
        self._first_segment = self.sim.truth.added
        self._started = self.sim.clock.now()

    def transition_ended(self, tr: Transition, run: Execution, position: float,
                         sigma: float) -> None:
        truth = self.sim.truth
        segments = truth.since(self._first_segment)
        self.asked.append((self._started, max([run.ended] + [
            s.t1 for s in segments if s.t0 <= (run.arrival or run.ended)])))
        settled = max([truth.settled_at()] + [s.t1 for s in segments])
        end = max((s.t1 for s in segments), default=run.ended)
        start_true = truth.position(tr.t0 - 1e-9) if not segments else segments[0].x0
        planned = run.planned_s
        worst = 0.0
        for t, x in truth.trace(tr.t0, max(end, tr.t0 + planned)):
            f = 1.0 if planned <= 0 else min(max((t - tr.t0) / planned, 0.0), 1.0)
            ideal = start_true + (tr.target - start_true) * f
            worst = max(worst, abs(x - ideal))
        ran = run.plan
        self.report.transitions.append({
            "kind": tr.kind,
            "from": 0 if tr.from_index is None else tr.from_index + 1,
            "to": tr.to_index + 1,
            "start_step": tr.start,
            "target_step": tr.target,
            "true_step": truth.step(settled),
            "true_position": round(truth.position(settled), 3),
            "planned_s": round(planned, 6),
            "actual_s": round(end - tr.t0, 6),
            "max_tracking_error_steps": round(worst, 3),
            "commands": run.commands,
            "late_commands": run.late,
            "counts": {} if ran is None else {str(k): n for k, n in sorted(ran.counts.items())},
            "expected_landing_steps": 0.0 if ran is None else round(ran.landing, 3),
            "rig_position": round(position, 3),
            "sigma_steps": round(sigma, 3) if math.isfinite(sigma) else None,
            "bound_steps": landing_bound(self.spreads, sigma),
        })

    def focused(self, result: AFResult, sigma: float) -> None:
        truth = self.sim.truth
        self.report.autofocus.append({
            "subject": truth.subject,
            "result_step": result.position,
            "true_step": truth.step(truth.settled_at()),
            "true_position": round(truth.position(truth.settled_at()), 3),
            "sigma_steps": round(sigma, 3) if math.isfinite(sigma) else None,
            "bound_steps": landing_bound(self.spreads, sigma),
            "frames": result.frames,
            "moves": result.moves,
            "region": list(result.roi),
            "ok": result.ok,
            **({} if result.ok else {"reason": result.reason}),
        })

    def learned(self, started: float, ended: float) -> None:
        self.learning.append((started, ended))

    def homed(self, started: float, ended: float) -> None:
        self.asked.append((started, ended))     # Q through the stop: the press asked for it

    def error(self, message: str) -> None:
        self.report.errors.append(message)


def _quadrature(factory: MockFactory, a: int, b: int, detents: int,
                clock: VirtualClock) -> None:
    pa, pb = factory.pin(a), factory.pin(b)
    first, second = (pa, pb) if detents > 0 else (pb, pa)
    for _ in range(abs(int(detents))):
        for pin, level in ((first, 0), (second, 0), (first, 1), (second, 1)):
            (pin.drive_high if level else pin.drive_low)()
            clock.sleep(EDGE_S)


def _buttons_for(bindings: Bindings, name: str, line: int) -> tuple[list[str], bool]:
    """The buttons a script's NAME presses, and whether that gesture is a long press."""
    if name not in FUNCTIONS:
        return [name], False
    gestures = bindings.gestures(name)
    if not gestures:
        raise SimulationError(f"line {line}: no gesture does {name} in this config")
    g = gestures[0]
    return list(g.buttons), g.kind == "long"


def _perform(factory: MockFactory, pins: dict[str, int], buttons: list[str], seconds: float,
             clock: VirtualClock, line: int) -> None:
    """Press ``buttons`` (one, or a chord) for ``seconds``, then let go."""
    missing = [b for b in buttons if b not in pins]
    if missing:
        raise SimulationError(f"line {line}: button {missing[0]!r} has no pin in this config")
    for i, name in enumerate(buttons):
        if i:
            clock.sleep(CHORD_S)
        factory.pin(pins[name]).drive_low()
    clock.sleep(seconds)
    for name in buttons:
        factory.pin(pins[name]).drive_high()


def check_scene(profile: Profile, actions: list[Action]) -> None:
    """Refuse, before anything runs, a scene action this profile's scene cannot do.

    The actions are replayed at once, in order, on the profile's scene: where
    each ramp ends does not depend on when it runs, so what passes here
    passes in the run (a dolly through a layer, a subject beyond the far
    stop fail here, with the script's line).
    """
    scene = make_scene(profile)
    for action in actions:
        if action.kind in SCENE_ACTIONS:
            try:
                _apply(scene, action, 0.0)
            except SceneError as exc:
                raise InputError(action.source or "<script>", str(exc),
                                 line=action.line) from None


def _apply(scene: Any, action: Action, t: float) -> None:
    kind, value, ramp = action.kind, action.value, action.ramp
    if kind == "subject":
        scene.move_subject(t, value, ramp)
    elif kind == "pan":
        scene.turn(t, value, ramp)
    elif kind == "dolly":
        scene.move_camera(t, value, ramp)
    elif kind == "walk":
        scene.walk(t, value)
    elif kind == "light":
        scene.expose(t, value, ramp)
    else:
        raise ValueError(f"not a scene action: {kind}")


def act_on_scene(sim: SimBody, action: Action) -> None:
    """A scene action, now: it starts and the script goes on (a ramp runs meanwhile)."""
    _apply(sim.scene, action, sim.clock.now())


def simulate(profile: Profile, actions: list[Action], *, state_dir: Path,
             config: Config | None = None, gif: Path | None = None,
             report_path: Path | None = None) -> Report:
    """Run the app on the simulator through ``actions``; return the report."""
    check_scene(profile, actions)
    config = config or load_config()
    clock = VirtualClock()
    sim = SimBody(profile, clock)
    store = Store(state_dir)
    report = Report()
    watcher = _Watcher(sim, report)
    recorder = GifRecorder() if gif else None
    device = dummy(width=128, height=64, mode="1")
    cal = config["calibration"]
    app = App(clock, sim.session, store, state=load_state(store, config.ui, config.bindings),
              display_device=device, recorder=recorder, observer=watcher,
              calibration_settings=CalibrationSettings(
                  settle_small_s=cal["settle_small_s"], settle_large_s=cal["settle_large_s"],
                  max_steps=cal["max_steps"], stall_window=cal["stall_window"]))
    app.listeners.append(watcher.state)
    factory = MockFactory()
    # The simulated rig always has its focus wheel, on the configured pins.
    encoder = config["encoder"]["focus"]
    pins = {**config.buttons, "wheel": encoder["push"]}
    bindings = config.bindings
    buttons = Buttons(pins, app.post, clock, encoder=encoder, pin_factory=factory)
    app.start()
    try:
        for action in actions:
            clock.sleep(action.delay)
            if action.kind in ("press", "hold"):
                names, long = _buttons_for(bindings, action.name, action.line)
                seconds = action.value if action.kind == "hold" else (
                    config.ui.hold_time + PRESS_S if long else PRESS_S)
                _perform(factory, pins, names, seconds, clock, action.line)
            elif action.kind == "turn":
                _quadrature(factory, encoder["a"], encoder["b"], int(action.value), clock)
            elif action.kind in SCENE_ACTIONS:
                act_on_scene(sim, action)
            elif action.kind == "drop":
                sim.set_drop(action.value)
            elif action.kind == "region":
                app.post(SetRegion(action.region, clock.now()))
            elif action.kind == "wait":
                if not app.wait_idle(until=clock.now() + IDLE_LIMIT_S):
                    report.errors.append(f"line {action.line}: still busy after "
                                         f"{IDLE_LIMIT_S:.0f} s of virtual time")
        app.wait_idle(until=clock.now() + IDLE_LIMIT_S)
    finally:
        app.stop()
        buttons.close()
    if app.state.activity == Activity.FAULT and not report.errors:
        report.errors.append(app.state.message)
    report.virtual_s = clock.now()
    report.unasked_motions = watcher.unasked()
    report.end_step = round(sim.truth.position(sim.truth.settled_at()), 3)
    if recorder is not None and gif is not None:
        until = watcher.calibrating_until

        def speed(t: float) -> float:
            # Calibrating and learning the scene play 20x faster.
            slow = t < until - 5.0 or any(a + 2.0 < t < b - 2.0 for a, b in watcher.learning)
            return 20.0 if slow else 1.0
        report.frames = recorder.save(gif, clock.now(), speed)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


# ------------------------------------------------------------------ boot


@dataclass(frozen=True)
class BootFrame:
    """One frame the OLED showed during a boot, with the state it showed."""
    t: float
    image: Any                # PIL image, 128x64, mode "1"
    words: list[str]          # the words on it (rig.display.screen_text)
    state: State


@dataclass
class BootRun:
    frames: list[BootFrame]
    state: State              # when the rig was stopped
    camera_at: float          # when the camera appeared
    in_play_at: float | None  # when the rig first stood in play with the lens at rest
    stopped: Any              # what the OLED showed after the service stopped


class _Frames:
    """A display recorder that also keeps the state and words of each frame."""

    def __init__(self) -> None:
        self.frames: list[BootFrame] = []
        self.app: App | None = None

    def add(self, t: float, img: Any) -> None:
        # Called by the display loop right after it rendered the app's state:
        # under a VirtualClock nothing else runs in between, so this is it.
        from .display import View, screen_text
        assert self.app is not None
        state = self.app.state
        self.frames.append(BootFrame(t, img.copy(), screen_text(View(state, t)), state))


def _in_play(state: State) -> bool:
    return (state.mode == Mode.PLAY and state.activity == Activity.IDLE
            and state.transition is None and state.position is not None)


def simulate_boot(profile: Profile, state_dir: Path, *, config: Config | None = None,
                  camera_at: float = 5.0, after_s: float = 2.0,
                  notifier: Notifier | None = None, limit_s: float = 3600.0) -> BootRun:
    """``rig run`` (:class:`rig.service.Service`) booting on the simulator in virtual time.

    The camera is off at first and appears at ``camera_at``; the run ends
    ``after_s`` after the rig stands in play with the lens at rest (or after
    ``limit_s``), with the stop ``rig run`` makes on SIGTERM.
    """
    from .service import Service
    config = config or load_config()
    # No web server in virtual time (it would listen on a real port).
    config = replace(config, values={**config.values, "state": {"dir": str(state_dir)},
                                     "web": {**config.values["web"], "enabled": False}})
    clock = VirtualClock()
    body = SimBody(profile, clock)
    body.present = False
    device = dummy(width=128, height=64, mode="1")
    recorder = _Frames()
    service = Service(clock, config, body.session, display_device=device,
                      notifier=notifier or Notifier({}), pin_factory=MockFactory(),
                      recorder=recorder)
    recorder.app = service.app
    stop = clock.flag()
    task = clock.spawn(service.run, stop, name="rig run")
    clock.sleep_until(camera_at)
    body.plug()
    in_play_at = None
    while clock.now() < camera_at + limit_s:
        if _in_play(service.app.state):
            in_play_at = clock.now()
            break
        clock.sleep(0.1)
    clock.sleep(after_s)
    stop.set()
    task.join()
    return BootRun(recorder.frames, service.app.state, camera_at, in_play_at,
                   device.image.copy())
