"""The imperative shell: threads, the camera owner and the core loop.

Three actors share one clock:

* the **core** takes events (button edges, lens reports, ticks) from one
  channel, runs the pure :func:`rig.sequencer.step`, publishes the new state
  and carries out the effects: lens jobs go to the worker, the sequence goes
  to disk;
* the **lens worker** owns the camera.  libgphoto2 allows one call at a time
  per camera, so every camera call (drive commands, live-view frames) is
  made from this one thread, job after job;
* the **display loop** renders the published state (:mod:`rig.display`).

On hardware these are real threads on :class:`~rig.clock.MonotonicClock`;
``rig simulate`` runs exactly the same code on a
:class:`~rig.clock.VirtualClock`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from .calibrate import CalibrationSettings
from .clock import EMPTY, Channel, Clock, Task
from .display import DisplayLoop, View
from .lens import Trust
from .liveview import LiveFeed
from .sequencer import (Activity, Arm, Autofocus, Home, JogStart, JogStop, Mode, Move, Notice,
                        Nudge, SaveSequence, Screen, Skip, State, Tick, achievable,
                        next_deadline, step)
from .store import Store
from .worker import KEEPALIVE_S, LensStatus, LensWorker, NullObserver, Observer, Stop

log = logging.getLogger(__name__)


__all__ = ["App", "Observer", "LensWorker", "load_state"]


@dataclass(frozen=True)
class _Barrier:
    """Answered on ``reply`` once the core is idle (``wait idle``)."""
    reply: Channel


class App:
    """The rig: core loop, lens worker and display, on one clock."""

    def __init__(self, clock: Clock, open_camera: Callable[[], Any], store: Store, *,
                 state: State, display_device: Any = None, recorder: Any = None,
                 observer: Observer | None = None,
                 calibration_settings: CalibrationSettings | None = None,
                 live: LiveFeed | None = None,
                 keepalive_s: float = KEEPALIVE_S,
                 display_reopen: Callable[[], Any] | None = None) -> None:
        self.clock = clock
        self.store = store
        self.events = clock.channel()
        self.state = state
        self.observer = observer or NullObserver()
        # The live view for the web page, fed by the lens worker.
        self.live = live or LiveFeed()
        self.worker = LensWorker(clock, open_camera, store, self.events.put,
                                 observer=self.observer,
                                 settings=calibration_settings or CalibrationSettings(),
                                 live=self.live, playing=lambda: self.state.mode == Mode.PLAY,
                                 keepalive_s=keepalive_s,
                                 trust=Trust(uncertain_steps=state.settings.uncertain_steps))
        # Called from the core thread with each new state, after its effects
        # (a saved sequence is on disk by then): the web page's updates.
        self.listeners: list[Callable[[State], None]] = []
        self.display = DisplayLoop(clock, display_device, self.view, recorder=recorder,
                                   reopen=display_reopen)
        self._barriers: list[Channel] = []
        self.tasks: list[Task] = []
        self.screen_on = True
        self.heartbeat = 0   # events the core has handled: it moves while the core lives

    # -- the published view
    def view(self) -> View:
        return View(self.state, self.clock.now(), min_focus_m=self.min_focus_m())

    @property
    def lens_status(self) -> LensStatus:
        """The lens worker's last published status (a frozen snapshot: any thread)."""
        return self.worker.status

    def min_focus_m(self) -> float | None:
        """The closest focusing distance of the lens in use (for distance estimates)."""
        from .distance import min_focus
        return min_focus(self.lens_status.calibration)

    def post(self, event: Any) -> None:
        self.events.put(event)

    # -- actors
    def start(self) -> None:
        # Saved files that did not read (the store fell back or started empty):
        # the journal has the detail, the OLED says it in a few words.
        for problem in self.store.problems:
            self.post(Notice("restored from backup" if "using the backup" in problem
                             else "a saved file is damaged", self.clock.now()))
        self.tasks = [
            self.clock.spawn(self.worker.run, name="lens"),
            self.clock.spawn(self.display.run, name="display"),
            self.clock.spawn(self.run_core, name="core"),
        ]

    def run_core(self) -> None:
        while True:
            deadline = next_deadline(self.state)
            event = self.events.get(until=deadline)
            if event is EMPTY:
                event = Tick(self.clock.now())
            self.heartbeat += 1
            if isinstance(event, Stop):
                return
            if isinstance(event, _Barrier):
                self._barriers.append(event.reply)
            else:
                before = self.state
                state, effects = step(before, event)
                for effect in effects:
                    self._carry_out(effect)
                # Published once its effects have run: a point the display,
                # the page or App.state show is on disk by then.
                self.state = state
                if state is not before:
                    self.display.poke()
                self._plan_ahead()
                for listener in self.listeners:
                    listener(self.state)
            if self._barriers and self._idle():
                for reply in self._barriers:
                    reply.put(True)
                self._barriers.clear()

    def _plan_ahead(self) -> None:
        """In play, plan the next transition now (plans are cached), not at the press."""
        s = self.state
        if s.mode == Mode.PLAY and s.activity == Activity.IDLE and s.index + 1 < len(s.points):
            achievable(s, s.index + 1)

    def _idle(self) -> bool:
        """Nothing under way: a fault that waits for the operator counts, a lost
        camera being looked for does not (like waiting for it at boot)."""
        s = self.state
        fault = s.activity == Activity.FAULT and s.fault != "camera"
        return ((s.activity == Activity.IDLE or fault) and s.transition is None
                and not s.jogging)

    def _carry_out(self, effect: Any) -> None:
        if isinstance(effect, (Move, JogStart, JogStop, Nudge, Autofocus, Home, Arm, Skip)):
            self.worker.inbox.put(effect)
        elif isinstance(effect, SaveSequence):
            self.store.save_sequence(effect.points, self.lens_status.lens)
        elif isinstance(effect, Screen):
            self.screen_on = effect.on     # the display loop switches the panel (poked)
        else:
            raise TypeError(f"unknown effect {effect!r}")

    def alive(self) -> bool:
        """Every actor still runs (none has died on an error)."""
        return bool(self.tasks) and not any(task.finished for task in self.tasks)

    def status(self) -> str:
        """One line for ``systemctl status``: what the rig is doing."""
        s = self.state
        if s.activity == Activity.FAULT:
            return f"problem: {s.message}"
        if s.activity in (Activity.CONNECTING, Activity.HOMING, Activity.CALIBRATING,
                          Activity.LEARNING):
            phase = s.progress[0] if s.progress else ""
            return f"{s.activity.value}: {phase}".strip(": ")
        where = f"point {s.index + 1}/{len(s.points)}" if s.points else "no points yet"
        return f"{s.mode.value}, {where}"

    def wait_idle(self, until: float | None = None) -> bool:
        reply = self.clock.channel()
        self.events.put(_Barrier(reply))
        return reply.get(until=until) is not EMPTY

    def stop(self) -> None:
        self.worker.cancel()
        self.events.put(Stop())
        self.display.stop()
        for task in self.tasks:
            task.join()
        self.display.close()


def load_state(store: Store, settings: Any, bindings: Any = None) -> State:
    """The saved sequence in a fresh core state (booting, in play mode).

    ``bindings``: the buttons' gestures; the packaged defaults when not given.
    """
    from .sequencer import initial_state
    if bindings is None:
        from .config import load_config
        bindings = load_config().bindings
    return initial_state(store.load_sequence(), settings, bindings)

