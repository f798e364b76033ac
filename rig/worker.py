"""The camera's owner: one thread makes every camera call.

libgphoto2 takes one call at a time per camera, so drive commands, live-view
frames and checks all go through this worker, job after job.  Its life is a
cycle that survives what happens on a set:

1. **Connect.**  Open a new ``gp.Camera`` (never reuse one after a failure).
   While there is no camera (-105), the USB device is held by another
   program (-53, usually the desktop's gvfs), or the port fails, say so on
   the screen and try again every ``RETRY_S``.
2. **Start.**  Calibrate a new lens or home a known one, then check that the
   lens really moves (a short drive watched in the live view, or read back):
   a lens switch on MF shows here.  Tell the core ``Ready``.
3. **Serve** lens jobs (pulls, jogs, autofocus).  While idle, a frame every
   ``KEEPALIVE_S`` keeps live view on (Canon drives the lens only then, and
   a preview turns it back on if someone switched it off); in play mode only
   every ``KEEPALIVE_PLAY_S``, so that a thumb press seldom waits for one.

A cable pulled mid-pull (-52, -7, -10) ends the session: the screen says
"camera lost", the worker goes back to 1 and, once the camera answers,
re-homes (the position is lost) and carries on; the sequence and the
calibration stay as they are.  A refusal the operator must fix (lens on MF,
a mode that forbids driving) is shown with its fix and re-checked every
``RETRY_S`` until it is gone.  Nothing needs a restart.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Protocol

import gphoto2 as gp

from .autofocus import DEFAULT_ROI, AFResult, autofocus
from .calibrate import CalibrationError, CalibrationSettings, calibrate
from .calibration import Calibration
from .clock import EMPTY, Clock
from .drives import NikonDrive, SonyDrive
from .inputs import InputError
from .lens import Cancelled, Execution, Lens, LensError, LiveViewFrozen
from .liveview import LiveFeed
from .planner import Plan, plan_move
from .precheck import STILL, UNSEEN, drive_test
from .sequencer import (Activity, Arm, Autofocus, Checked, Fault, Focused, Home, JogStart,
                        JogStop, Move, Moved, Notice, Nudge, Progress, Ready, Skip, Transition)
from .store import Store
from .verify import LEARN_MARGIN, SceneMap, check_arrival, holds, learn_scene

log = logging.getLogger(__name__)

__all__ = ["LensWorker", "Stop", "Observer", "NullObserver", "use_calibration", "RETRY_S",
           "KEEPALIVE_S", "KEEPALIVE_PLAY_S"]

RETRY_S = 2.0        # while the camera is missing or refuses, try again this often
FIX_RETRY_S = 10.0   # after a fault the operator must fix, start over this often
KEEPALIVE_S = 2.0    # while idle, a live-view frame this often keeps live view on
# In play mode the thumb may close at any instant, and a press that lands on
# a camera call waits for its end (libgphoto2 cannot cut a call short): the
# keepalive comes this seldom there, so that hardly any press meets one.
KEEPALIVE_PLAY_S = 10.0
# The idle worker looks again this often (no camera call): a page opened
# meanwhile gets its frames, a mode change its keepalive period.
IDLE_LOOK_S = 0.5

# Camera errors that mean "not yet": wait and retry, saying why and what to do.
WAIT_FOR = {
    gp.GP_ERROR_MODEL_NOT_FOUND: "no camera on USB: plug it in and switch it on",
    gp.GP_ERROR_IO_USB_CLAIM: "USB held by another program: gio mount -s gphoto2",
    gp.GP_ERROR_IO_USB_FIND: "camera not found on USB: check the cable",
    gp.GP_ERROR_IO: "camera I/O error: check the cable",
    gp.GP_ERROR_TIMEOUT: "camera does not answer: check it is on",
}
# Errors in an open session that mean the camera has gone (cable, power).
LOST = {gp.GP_ERROR_IO_USB_FIND, gp.GP_ERROR_IO, gp.GP_ERROR_TIMEOUT,
        gp.GP_ERROR_MODEL_NOT_FOUND}


def _kind_of(message: str) -> str:
    """Which screen a refusal gets: the lens layer ends every "lens on MF" with its fix."""
    return "lens_mf" if "switch to AF" in message else ""


class Stop:
    """Ask the worker to end (the service stops)."""


class CameraLost(Exception):
    pass


class Observer(Protocol):
    """Hooks for a harness that watches the app (the simulator's report)."""

    def calibrated(self, cal: Calibration) -> None: ...
    def transition_started(self, tr: Transition, plan: Plan) -> None: ...
    def transition_ended(self, tr: Transition, run: Execution, position: float) -> None: ...
    def focused(self, result: AFResult) -> None: ...
    def learned(self, started: float, ended: float) -> None: ...
    def error(self, message: str) -> None: ...


class NullObserver:
    """Watches nothing (the rig itself)."""

    def calibrated(self, cal: Calibration) -> None: pass
    def transition_started(self, tr: Transition, plan: Plan) -> None: pass
    def transition_ended(self, tr: Transition, run: Execution, position: float) -> None: pass
    def focused(self, result: AFResult) -> None: pass
    def learned(self, started: float, ended: float) -> None: pass
    def error(self, message: str) -> None: pass


def use_calibration(lens: Lens, cal: Calibration) -> None:
    """Give a connected lens its calibration (model, spreads, Nikon's motor unit,
    the steps Sony's 0-100 ``focalposition`` spans).

    A Sony whose reading calibration found not linear in steps
    (``focalposition_linear: false``) gets no scale: its reading then says
    nothing in steps, so :meth:`Lens.checked` and the test drive
    (:mod:`rig.precheck`) use the live view instead."""
    lens.model = cal.model()
    lens.jitter = {d.size: d.jitter or 0.0 for d in cal.drive}
    if isinstance(lens.drive, NikonDrive):
        lens.drive.unit = int(cal.extra.get("drive_unit", 1))
    if isinstance(lens.drive, SonyDrive):
        linear = cal.extra.get("focalposition_linear", True)
        lens.drive.range_steps = float(cal.steps) if linear else None


class LensWorker:
    """Owns the camera: connects, homes or calibrates, runs lens jobs, recovers."""

    def __init__(self, clock: Clock, open_camera: Callable[[], Any], store: Store,
                 post: Callable[[Any], None], *, observer: Observer,
                 settings: CalibrationSettings, live: LiveFeed | None = None,
                 playing: Callable[[], bool] = lambda: False,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.clock = clock
        self.open_camera = open_camera
        self.store = store
        self.post = post
        self.observer = observer
        self.settings = settings
        self.keepalive_s = keepalive_s
        self.inbox = clock.channel()
        self.lens: Lens | None = None
        self.calibration: Calibration | None = None
        self.cancelled = False
        self._reported = ""
        # The scene learnt for live-view position checks, while it holds
        # (cameras that report no position: see rig.verify).
        self.scene: SceneMap | None = None
        # Every frame taken goes to ``live`` (the web page); while someone
        # watches, idle time is spent capturing more (slower in play).
        self.live = live
        self.playing = playing
        self.last_af: AFResult | None = None
        self.af_count = 0
        self._kept = 0.0   # when live view was last kept on (or a job used the camera)

    # -- the cycle
    def run(self) -> None:
        retrying = False
        while not self.cancelled:
            try:
                lens = self._connect(quiet=retrying)
                retrying = False
                if lens is None:
                    return
                self._start(lens)
                if self._serve(lens):
                    return
            except Cancelled:
                return
            except CameraLost as exc:
                self._report(f"camera lost: {exc}", kind="camera")
                self._drop()
            except (LensError, InputError, gp.GPhoto2Error) as exc:
                # A camera, lens or file that cannot work as it is (no focus
                # drive, lens on MF while calibrating, a damaged profile): say
                # what to fix, then start over with a new session, so fixing
                # it (or plugging in another camera) needs no restart.
                self._report(str(exc), kind=_kind_of(str(exc)))
                self._drop()
                if self._wait(FIX_RETRY_S):
                    return
                retrying = True

    def _drop(self) -> None:
        """Close the session; the next attempt opens a new ``gp.Camera``."""
        if self.lens is not None:
            self.lens.close()
        self.lens = None

    def cancel(self) -> None:
        """Stop what the lens is doing at its next camera call (service stop)."""
        self.cancelled = True
        if self.lens is not None:
            self.lens.cancelled = True
        self.inbox.put(Stop())

    def _report(self, message: str, kind: str = "") -> None:
        if message != self._reported:       # the same fault again: the journal has it
            log.error("lens: %s", message)
        self._reported = message
        self.observer.error(message)
        self.post(Fault(message, self.clock.now(), kind))

    def _wait(self, seconds: float) -> bool:
        """Wait, keeping an ear on the inbox; True if asked to stop."""
        until = self.clock.now() + seconds
        while True:
            msg = self.inbox.get(until=until)
            if msg is EMPTY:
                return False
            if isinstance(msg, Stop):
                return True
            # Lens jobs asked for while the camera is away are dropped: the core
            # shows the fault and will ask again once the lens is ready.

    def _progress(self, activity: Activity) -> Callable[..., None]:
        last: list[Any] = [None, -1.0]

        # eta_s: the calibration's estimate of the seconds left (contracts.md), not shown yet.
        def report(phase: str, fraction: float, eta_s: float | None = None) -> None:
            if phase != last[0] or fraction - last[1] >= 0.02:
                last[0], last[1] = phase, fraction
                shown = Activity.HOMING if phase == "homing" else activity
                self.post(Progress(shown, phase, fraction, self.clock.now()))
        return report

    # -- 1. connect
    def _connect(self, quiet: bool = False) -> Lens | None:
        """A connected lens, or None if the rig is stopped meanwhile.

        ``quiet`` (trying again after a fault): the fault stays on the screen
        unless the camera is not there at all.
        """
        if not quiet:
            self.post(Progress(Activity.CONNECTING, "camera", 0.0, self.clock.now()))
        while not self.cancelled:
            lens = Lens(self.open_camera(), self.clock)
            lens.on_frame = self._publish
            lens.cancelled = self.cancelled
            try:
                lens.connect()
                self.lens = lens
                log.info("camera %s, lens %s: %s", lens.camera_model, lens.lens_name,
                         lens.caps.describe())
                return lens
            except LensError:
                lens.close()
                raise
            except gp.GPhoto2Error as exc:
                lens.close()
                if exc.code not in WAIT_FOR:
                    raise
                reason = WAIT_FOR[exc.code]
                if reason != self._reported:    # once per cause, not every retry
                    log.warning("camera: %s (%s); trying again every %.0f s",
                                reason, exc, RETRY_S)
                self._reported = reason
                self.post(Progress(Activity.CONNECTING, reason, 0.0, self.clock.now()))
                if self._wait(RETRY_S):
                    return None
        return None

    # -- 2. start
    def _start(self, lens: Lens) -> None:
        try:
            cal = self.store.load_calibration(lens.camera_model, lens.lens_name)
            if cal is None:
                log.info("new lens: calibrating")
                cal = calibrate(lens, self.settings, self._progress(Activity.CALIBRATING))
                path = self.store.save_calibration(cal, stamp=True)
                log.info("calibration saved to %s", path)
                use_calibration(lens, cal)
            else:
                use_calibration(lens, cal)
                self._progress(Activity.HOMING)("homing", 0.0)
                started = self.clock.now()
                lens.home()
                log.info("homed in %.1f s", self.clock.now() - started)
            self.calibration = cal
            self.observer.calibrated(cal)
            refused = False
            while not self._moves(lens):
                refused = True
                message = ("the lens does not move: set the lens switch to AF "
                           "(or point the camera at something with detail)")
                self._report(message, kind="lens_mf")
                if self._wait(RETRY_S):
                    raise Cancelled()
            if refused:
                # The homing before the check ran on a lens that did not move:
                # home again now that it does.
                self._progress(Activity.HOMING)("homing", 0.0)
                lens.home()
            self._recall_scene(lens)
        except gp.GPhoto2Error as exc:
            if exc.code in LOST:
                raise CameraLost(exc) from None
            raise
        except CalibrationError as exc:
            if exc.code in LOST:         # the camera went away while calibrating
                raise CameraLost(exc) from None
            raise
        assert lens.model is not None
        self._reported = ""
        self.post(Ready(lens.model, round(lens.position or 0), self.clock.now()))

    def _recall_scene(self, lens: Lens) -> None:
        """The scene saved for this camera and lens, if a look at the stop agrees."""
        self.scene = None
        if lens.reads_exact_position:
            return
        try:
            scene = self.store.load_scene(lens.camera_model, lens.lens_name)
        except InputError as exc:
            # Only a cache of what the camera saw: kept aside for a look, not used.
            path = self.store.scene_path(lens.camera_model, lens.lens_name)
            aside = path.with_name(path.name + ".bad")
            path.replace(aside)
            log.warning("%s; moved to %s. INFO into play learns the scene again", exc, aside)
            return
        if scene is None:
            return
        lens.wait_free()
        if holds(lens, scene):
            self.scene = scene
            log.info("the scene learnt before still holds: positions are checked in the "
                     "live view")
        else:
            log.info("the scene changed since it was learnt: INFO into play learns it again")

    def _moves(self, lens: Lens) -> bool:
        """A short test drive and back: did the lens move?

        (:func:`rig.precheck.drive_test`, which ``rig doctor`` runs too.)  A
        picture with no structure at all (a blank wall) cannot tell: rig says
        so in the log and carries on rather than blame the lens switch.
        """
        test = drive_test(lens)
        if test.result == UNSEEN:
            log.warning("the picture has too little detail to see the lens move; "
                        "carrying on (if the lens does not move, set it to AF)")
        return test.result != STILL

    # -- 3. serve
    def _serve(self, lens: Lens) -> bool:
        """Run lens jobs until the rig stops (True) or the camera is lost (raises)."""
        self._kept = self.clock.now()
        while True:
            job = self.inbox.get(until=self._idle_until())
            try:
                if job is EMPTY:
                    now = self.clock.now()
                    if now >= self._kept + self._keepalive_period():
                        self._keep_liveview(lens)
                        self._kept = self.clock.now()
                    elif now >= self._watched_due():
                        self._watched_frame(lens)
                    continue
                if isinstance(job, Stop):
                    return True
                self._do(lens, job)
                self._kept = self.clock.now()
            except gp.GPhoto2Error as exc:
                if exc.code in LOST:
                    raise CameraLost(exc) from None
                self._refused(lens, str(exc))
            except LensError as exc:
                self._refused(lens, str(exc))

    def _publish(self, frame: bytes) -> None:
        if self.live is not None:
            self.live.publish(frame, self.clock.now())

    def _keepalive_period(self) -> float:
        return max(self.keepalive_s, KEEPALIVE_PLAY_S) if self.playing() else self.keepalive_s

    def _watched_due(self) -> float:
        """When the web page's watchers are due their next frame (inf: nobody watches)."""
        period = self.live.period(self.playing()) if self.live is not None else None
        if period is None:
            return math.inf
        assert self.live is not None
        return self.live.latest()[2] + period

    def _idle_until(self) -> float:
        """When the idle worker next looks: a keepalive or a watched frame due, or a look."""
        return min(self._kept + self._keepalive_period(), self._watched_due(),
                   self.clock.now() + IDLE_LOOK_S)

    def _watched_frame(self, lens: Lens) -> None:
        """A frame for the web page (published by ``lens.on_frame``)."""
        try:
            lens.frame()
        except LiveViewFrozen:
            pass   # the page shows the same picture; checks say when it matters

    def _keep_liveview(self, lens: Lens) -> None:
        """A frame keeps live view on; if it had been switched off, say so."""
        if "liveview" in lens.caps.preconditions and lens.liveview_is_on() is False:
            log.warning("live view was off: turned it back on")
            self.post(Notice("live view turned on", self.clock.now(), kind="liveview"))
            lens.liveview_on()
        else:
            try:
                lens.frame()
            except LiveViewFrozen:
                pass   # it keeps live view on all the same; checks say when it matters

    def _refused(self, lens: Lens, message: str) -> None:
        """Show what the operator must fix, retry until it is fixed, re-home."""
        self._report(message, kind=_kind_of(message))
        while True:
            if self._wait(RETRY_S):
                raise Cancelled()
            try:
                lens.liveview_on()
                lens.home()
                if self._moves(lens):
                    break
            except LensError as exc:
                message = str(exc)
        assert lens.model is not None
        self._reported = ""
        self.post(Ready(lens.model, round(lens.position or 0), self.clock.now()))

    def _interrupted(self) -> bool:
        """A new job waits: checks and learning give way to it."""
        return len(self.inbox) > 0

    def _check(self, lens: Lens, target: int, start: int | None) -> tuple[float | None, float | None]:
        """Where the lens landed, and where it is after correcting: camera, then picture.

        Fuji reads exact positions: that is the check.  Sony's coarse
        reading catches a lost move; the picture then settles the last steps.
        """
        before, after = lens.checked(target)
        if lens.reads_exact_position or self.scene is None:
            return before, after
        check = check_arrival(lens, self.scene, target, start, self._interrupted)
        if not check.verified and check.reason != "interrupted":
            log.info("live view check at %d: %s", target, check.reason)
        return (check.found if before is None else before), check.left

    def _do(self, lens: Lens, job: Any) -> None:
        if isinstance(job, Move):
            tr = job.transition
            self.observer.transition_started(tr, job.plan)
            plan = self._from_here(lens, job.plan)
            run = lens.execute(plan, tr.t0)
            checks = lens.caps.feedback == "absolute" or self.scene is not None
            if checks:
                # The lens has stopped: the core takes the next press while the
                # arrival is checked, and a job that comes cuts the check short
                # (between two camera calls), so a press never waits for it.
                self._moved(lens, checking=True)
            run.before_correction, run.after_correction = self._check(lens, tr.target, tr.start)
            source = "stop" if tr.from_index is None else f"point {tr.from_index + 1}"
            log.info(run.describe(plan, f"{tr.kind} {source} -> point {tr.to_index + 1}"))
            self.observer.transition_ended(tr, run, lens.position or 0.0)
            if not checks:
                self._moved(lens)
            elif not self._interrupted():
                self.post(Checked(round(lens.position or 0), self.clock.now(), lens.trusted))
            if job.then is not None and not self._interrupted():
                lens.prepare(*job.then, stop=self._interrupted)   # the play, the next plan
        elif isinstance(job, JogStart):
            self._jog(lens, job)
        elif isinstance(job, Nudge):
            assert lens.position is not None
            lens.move_to(round(lens.position) + job.steps)
            self._moved(lens)
        elif isinstance(job, Home):
            back = lens.position
            lens.home()
            if back is not None:
                lens.move_to(round(back))
            self._moved(lens)
        elif isinstance(job, Arm):
            self._arm(lens, job.farthest)
        elif isinstance(job, Autofocus):
            # Focusing on something means the scene is changing: checks wait
            # until the next INFO into play finds the scene again.
            self.scene = None
            result = autofocus(lens, job.region or DEFAULT_ROI)
            self.last_af, self.af_count = result, self.af_count + 1
            self.observer.focused(result)
            self.post(Focused(result.position, result.ok, result.reason, self.clock.now(),
                              lens.trusted))
        elif isinstance(job, (JogStop, Skip)):
            pass  # the jog (or the learning) already ended

    def _arm(self, lens: Lens, farthest: int) -> None:
        """Entering play: keep the scene if it holds, otherwise home and learn it."""
        assert lens.model is not None
        reach = min(lens.model.steps, farthest + LEARN_MARGIN)
        if lens.reads_exact_position:
            self._moved(lens)
            return
        if lens.trusted and self.scene is not None and self.scene.reach >= reach \
                and holds(lens, self.scene):
            self._moved(lens)
            return
        back = lens.position
        self._progress(Activity.HOMING)("homing", 0.0)
        lens.home()
        started = self.clock.now()
        report = self._progress(Activity.LEARNING)
        scene = learn_scene(lens, reach, lambda f: report("scene", f), self._interrupted)
        while len(self.inbox) and isinstance(self.inbox.get_nowait(), Skip):
            pass  # the presses that ended it early
        if scene is None:
            log.warning("learning the scene was stopped too early to be of use")
        else:
            self.scene = scene
            path = self.store.save_scene(scene)
            log.info("scene learnt up to %d steps in %.0f s, saved to %s", scene.reach,
                     self.clock.now() - started, path)
            self.observer.learned(started, self.clock.now())
        if back is not None:
            lens.move_to(round(back))
            self._check(lens, round(back), scene.reach if scene else None)
        self._moved(lens)

    def _moved(self, lens: Lens, checking: bool = False) -> None:
        self.post(Moved(round(lens.position or 0), self.clock.now(), lens.trusted, checking))

    def _from_here(self, lens: Lens, plan: Plan) -> Plan:
        """The plan again from where the lens is, if a cut-short check moved it."""
        if lens.position is None or lens.model is None or round(lens.position) == plan.start:
            return plan
        return plan_move(round(lens.position), plan.target, plan.target_s, lens.model,
                         plan.easing)

    def _jog(self, lens: Lens, job: JogStart) -> None:
        """Drive one way command after command until told to stop."""
        assert lens.model is not None
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
            elif isinstance(msg, Stop):
                later.append(msg)
                break
            elif msg is not EMPTY:
                later.append(msg)
        lens.wait_free()
        self._moved(lens)
        for msg in later:
            self.inbox.put(msg)
