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
from typing import Any, Callable, Protocol

import gphoto2 as gp

from .autofocus import AFResult, autofocus
from .calibration import Calibration
from .clock import EMPTY, Channel, Clock, Task
from .display import DisplayLoop, View
from .inputs import InputError
from .lens import Cancelled, CalibrationSettings, Execution, Lens, LensError, calibrate
from .planner import Plan
from .sequencer import (Activity, Autofocus, Fault, Focused, JogStart, JogStop, Mode, Move,
                        Moved, Nudge, Progress, Ready, SaveSequence, Screen, State, Tick,
                        Transition, achievable, next_deadline, step)
from .store import Store

log = logging.getLogger(__name__)

RETRY_S = 2.0   # while there is no camera, try again this often
# Camera errors that mean "not yet": wait and retry, saying why on the screen.
WAIT_FOR = {
    gp.GP_ERROR_MODEL_NOT_FOUND: "no camera on USB",
    gp.GP_ERROR_IO_USB_CLAIM: "USB held by another program (gvfs?)",
    gp.GP_ERROR_IO_USB_FIND: "camera not found",
    gp.GP_ERROR_IO: "camera I/O error",
}

__all__ = ["App", "Observer", "LensWorker", "load_state"]


class Observer(Protocol):
    """Hooks for a harness that watches the app (the simulator's report)."""

    def calibrated(self, cal: Calibration) -> None: ...
    def transition_started(self, tr: Transition, plan: Plan) -> None: ...
    def transition_ended(self, tr: Transition, run: Execution, position: float) -> None: ...
    def focused(self, result: AFResult) -> None: ...
    def error(self, message: str) -> None: ...


class _NoObserver:
    def calibrated(self, cal: Calibration) -> None: pass
    def transition_started(self, tr: Transition, plan: Plan) -> None: pass
    def transition_ended(self, tr: Transition, run: Execution, position: float) -> None: pass
    def focused(self, result: AFResult) -> None: pass
    def error(self, message: str) -> None: pass


@dataclass(frozen=True)
class _Stop:
    pass


@dataclass(frozen=True)
class _Barrier:
    """Answered on ``reply`` once the core is idle (``wait idle``)."""
    reply: Channel


class LensWorker:
    """Owns the camera: connects, homes or calibrates, then runs lens jobs."""

    def __init__(self, clock: Clock, open_camera: Callable[[], Any], store: Store,
                 post: Callable[[Any], None], *, observer: Observer,
                 settings: CalibrationSettings) -> None:
        self.clock = clock
        self.open_camera = open_camera
        self.store = store
        self.post = post
        self.observer = observer
        self.settings = settings
        self.inbox = clock.channel()
        self.lens: Lens | None = None
        self.calibration: Calibration | None = None
        self.cancelled = False

    def run(self) -> None:
        try:
            if not self._prepare():
                return  # stopped while waiting for the camera
        except Cancelled:
            return
        except (LensError, gp.GPhoto2Error, InputError) as exc:
            message = str(exc)
            log.error("lens: %s", message)
            self.observer.error(message)
            self.post(Fault(message, self.clock.now()))
            self._drain_until_stop()
            return
        while True:
            job = self.inbox.get()
            if isinstance(job, _Stop):
                return
            try:
                self._do(job)
            except Cancelled:
                return
            except (LensError, gp.GPhoto2Error) as exc:
                message = f"lens: {exc}"
                log.error(message)
                self.observer.error(message)
                self.post(Fault(message, self.clock.now()))

    def cancel(self) -> None:
        """Stop what the lens is doing at its next camera call (service stop)."""
        self.cancelled = True
        if self.lens is not None:
            self.lens.cancelled = True
        self.inbox.put(_Stop())

    def _drain_until_stop(self) -> None:
        while not isinstance(self.inbox.get(), _Stop):
            pass

    def _progress(self, activity: Activity) -> Callable[[str, float], None]:
        last: list[Any] = [None, -1.0]

        def report(phase: str, fraction: float) -> None:
            if phase != last[0] or fraction - last[1] >= 0.02:
                last[0], last[1] = phase, fraction
                shown = Activity.HOMING if phase == "homing" else activity
                self.post(Progress(shown, phase, fraction, self.clock.now()))
        return report

    def _connect(self) -> Lens | None:
        """Open the camera, retrying while it is absent or held elsewhere.

        The screen says what is wrong: no camera (-105), or the USB device
        claimed by another program (-53, usually the desktop's gvfs monitor).
        Returns None if the rig is stopped meanwhile.
        """
        while True:
            try:
                lens = Lens(self.open_camera(), self.clock)
                lens.connect()
                return lens
            except gp.GPhoto2Error as exc:
                if exc.code not in WAIT_FOR:
                    raise
                reason = WAIT_FOR[exc.code]
                log.warning("camera: %s (%s); trying again", reason, exc)
                self.post(Progress(Activity.CONNECTING, reason, 0.0, self.clock.now()))
                if isinstance(self.inbox.get(until=self.clock.now() + RETRY_S), _Stop):
                    return None

    def _prepare(self) -> bool:
        self.post(Progress(Activity.CONNECTING, "camera", 0.0, self.clock.now()))
        lens = self._connect()
        if lens is None:
            return False
        lens.cancelled = self.cancelled
        self.lens = lens
        log.info("camera %s, lens %s", lens.camera_model, lens.lens_name)
        cal = self.store.load_calibration(lens.camera_model, lens.lens_name)
        if cal is None:
            log.info("new lens: calibrating")
            cal = calibrate(lens, self.settings, self._progress(Activity.CALIBRATING))
            path = self.store.save_calibration(cal)
            log.info("calibration saved to %s", path)
        else:
            lens.model = cal.model()
            self._progress(Activity.HOMING)("homing", 0.0)
            started = self.clock.now()
            lens.home()
            log.info("homed in %.1f s", self.clock.now() - started)
        self.calibration = cal
        self.observer.calibrated(cal)
        assert lens.model is not None
        self.post(Ready(lens.model, 0, self.clock.now()))
        return True

    def _do(self, job: Any) -> None:
        lens = self.lens
        assert lens is not None
        if isinstance(job, Move):
            self.observer.transition_started(job.transition, job.plan)
            run = lens.execute(job.plan, job.transition.t0)
            tr = job.transition
            source = "stop" if tr.from_index is None else f"point {tr.from_index + 1}"
            log.info(run.describe(job.plan, f"{tr.kind} {source} -> point {tr.to_index + 1}"))
            self.observer.transition_ended(tr, run, lens.position or 0.0)
            self.post(Moved(round(lens.position or 0), self.clock.now()))
        elif isinstance(job, JogStart):
            self._jog(job)
        elif isinstance(job, Nudge):
            assert lens.position is not None
            lens.move_to(round(lens.position) + job.steps)
            self.post(Moved(round(lens.position), self.clock.now()))
        elif isinstance(job, Autofocus):
            result = autofocus(lens)
            self.observer.focused(result)
            self.post(Focused(result.position, result.ok, result.reason, self.clock.now()))
        elif isinstance(job, JogStop):
            pass  # the jog already ended

    def _jog(self, job: JogStart) -> None:
        """Drive one way command after command until told to stop."""
        lens = self.lens
        assert lens is not None and lens.model is not None
        size, direction = job.size, job.direction
        later: list[Any] = []
        while True:
            msg = self.inbox.get(until=lens.free_at)
            if msg is EMPTY:
                step = lens.model.drive(size).steps
                pos = lens.position or 0.0
                if 0 <= pos + direction * step <= lens.model.steps:
                    lens.send(size, direction)
                elif size != 1 and 0 <= pos + direction <= lens.model.steps:
                    size = 1
                else:
                    msg = self.inbox.get()  # at the end of the range: wait for release
            if isinstance(msg, JogStop):
                break
            if isinstance(msg, JogStart):
                size, direction = msg.size, msg.direction
            elif isinstance(msg, _Stop):
                later.append(msg)
                break
            elif msg is not EMPTY:
                later.append(msg)
        lens.wait_free()
        self.post(Moved(round(lens.position or 0), self.clock.now()))
        for msg in later:
            self.inbox.put(msg)


class App:
    """The rig: core loop, lens worker and display, on one clock."""

    def __init__(self, clock: Clock, open_camera: Callable[[], Any], store: Store, *,
                 state: State, display_device: Any = None, recorder: Any = None,
                 observer: Observer | None = None,
                 calibration_settings: CalibrationSettings | None = None) -> None:
        self.clock = clock
        self.store = store
        self.events = clock.channel()
        self.state = state
        self.observer = observer or _NoObserver()
        self.worker = LensWorker(clock, open_camera, store, self.events.put,
                                 observer=self.observer,
                                 settings=calibration_settings or CalibrationSettings())
        self.display = DisplayLoop(clock, display_device, self.view, recorder=recorder)
        self._barriers: list[Channel] = []
        self.tasks: list[Task] = []
        self.screen_on = True

    # -- the published view
    def view(self) -> View:
        return View(self.state, self.clock.now())

    def post(self, event: Any) -> None:
        self.events.put(event)

    # -- actors
    def start(self) -> None:
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
            if isinstance(event, _Stop):
                return
            if isinstance(event, _Barrier):
                self._barriers.append(event.reply)
            else:
                self.state, effects = step(self.state, event)
                for effect in effects:
                    self._carry_out(effect)
                self._plan_ahead()
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
        s = self.state
        return (s.activity in (Activity.IDLE, Activity.FAULT) and s.transition is None
                and not any(h.stage in (1, 2) for h in s.held))

    def _carry_out(self, effect: Any) -> None:
        if isinstance(effect, (Move, JogStart, JogStop, Nudge, Autofocus)):
            self.worker.inbox.put(effect)
        elif isinstance(effect, SaveSequence):
            lens = self.worker.lens.lens_name if self.worker.lens else ""
            self.store.save_sequence(effect.points, lens)
        elif isinstance(effect, Screen):
            self.screen_on = effect.on
            device = self.display.device
            if device is not None:
                (device.show if effect.on else device.hide)()
        else:
            raise TypeError(f"unknown effect {effect!r}")

    def wait_idle(self, until: float | None = None) -> bool:
        reply = self.clock.channel()
        self.events.put(_Barrier(reply))
        return reply.get(until=until) is not EMPTY

    def stop(self) -> None:
        self.worker.cancel()
        self.events.put(_Stop())
        self.display.stop_flag.set()
        for task in self.tasks:
            task.join()
        self.display.close()


def load_state(store: Store, settings: Any) -> State:
    """The saved sequence in a fresh core state (booting, in play mode)."""
    from .sequencer import initial_state
    return initial_state(store.load_sequence(), settings)

