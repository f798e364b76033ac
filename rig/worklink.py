"""The worker's link to the camera: connect, start, keep live view on, recover.

* :meth:`Link.connect`: open a new ``gp.Camera`` (never reuse one after a
  failure); while there is no camera (-105), the USB device is held by
  another program (-53) or the port fails, say so and try again every
  ``RETRY_S``.
* :meth:`Link.start`: calibrate a new lens or home a known one, check that
  the lens really moves (a lens switch on MF shows here), then tell the
  core ``Ready``.
* :meth:`Link.refused`: a refusal the operator must fix (lens on MF, a mode
  that forbids driving): show it with its fix, re-check every ``RETRY_S``,
  home again once it is gone.
* The keepalive (:meth:`Link.idle_until`, :meth:`Link.idle`): while idle, a
  frame every ``keepalive_s`` keeps live view on (Canon drives the lens only
  then), in play only every ``KEEPALIVE_PLAY_S``; frames for the web page's
  watchers in between.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import gphoto2 as gp

from .calibrate import CalibrationError, CalibrationSettings, calibrate
from .calibration import Calibration
from .clock import EMPTY
from .drives import NikonDrive, SonyDrive
from .lens import Cancelled, Lens, LensError, LiveViewFrozen, Trust
from .liveview import LiveFeed
from .precheck import STILL, UNSEEN, drive_test
from .sequencer import Activity, Fault, Notice, Progress, Ready
from .workparts import Stop, Wiring, progress
from .workscene import Scenes

log = logging.getLogger("rig.worker")

__all__ = ["Link", "CameraLost", "use_calibration", "RETRY_S", "FIX_RETRY_S", "KEEPALIVE_S",
           "KEEPALIVE_PLAY_S", "IDLE_LOOK_S", "WAIT_FOR", "LOST"]

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


class CameraLost(Exception):
    pass


@dataclass(frozen=True)
class Moved:
    """What :meth:`Link.moves` found."""

    moved: bool          # the lens moved when driven (or the picture cannot tell)
    homed: bool          # False: the lens was not on the near stop before the test


def kind_of(message: str) -> str:
    """Which screen a refusal gets: the lens layer ends every "lens on MF" with its fix."""
    return "lens_mf" if "switch to AF" in message else ""


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


class Link:
    """The camera session: connection, start, keepalive, faults the operator fixes."""

    def __init__(self, wiring: Wiring, open_camera: Callable[[], Any], *,
                 settings: CalibrationSettings, trust: Trust, scenes: Scenes,
                 live: LiveFeed | None, playing: Callable[[], bool],
                 keepalive_s: float) -> None:
        self.w = wiring
        self.open_camera = open_camera
        self.settings = settings
        self.trust = trust
        self.scenes = scenes
        self.live = live
        self.playing = playing
        self.keepalive_s = keepalive_s
        self.cancelled = False
        self.reported = ""      # the fault on the screen (said once in the journal)
        self._kept = 0.0        # when live view was last kept on (or a job used the camera)

    # -- faults
    def report(self, message: str, kind: str = "") -> None:
        w = self.w
        if message != self.reported:       # the same fault again: the journal has it
            log.error("lens: %s", message)
        self.reported = message
        w.observer.error(message)
        w.post(Fault(message, w.clock.now(), kind))

    def wait(self, seconds: float) -> bool:
        """Wait, keeping an ear on the inbox; True if asked to stop."""
        w = self.w
        until = w.clock.now() + seconds
        while True:
            msg = w.inbox.get(until=until)
            if msg is EMPTY:
                return False
            if isinstance(msg, Stop):
                return True
            # Lens jobs asked for while the camera is away are dropped: the core
            # shows the fault and will ask again once the lens is ready.

    # -- 1. connect
    def connect(self, on_frame: Callable[[bytes], None], quiet: bool = False) -> Lens | None:
        """A connected lens, or None if the rig is stopped meanwhile.

        ``quiet`` (trying again after a fault): the fault stays on the screen
        unless the camera is not there at all.
        """
        w = self.w
        if not quiet:
            w.post(Progress(Activity.CONNECTING, "camera", 0.0, w.clock.now()))
        while not self.cancelled:
            lens = Lens(self.open_camera(), w.clock, self.trust)
            lens.on_frame = on_frame
            lens.cancelled = self.cancelled
            try:
                lens.connect()
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
                if reason != self.reported:    # once per cause, not every retry
                    log.warning("camera: %s (%s); trying again every %.0f s",
                                reason, exc, RETRY_S)
                self.reported = reason
                w.post(Progress(Activity.CONNECTING, reason, 0.0, w.clock.now()))
                if self.wait(RETRY_S):
                    return None
        return None

    # -- 2. start
    def start(self, lens: Lens) -> Calibration:
        """Calibrate or home, check the lens moves, recall the scene; the core is told Ready."""
        w = self.w
        try:
            cal = w.store.load_calibration(lens.camera_model, lens.lens_name)
            if cal is None:
                log.info("new lens: calibrating")
                cal = calibrate(lens, self.settings, progress(w, Activity.CALIBRATING))
                path = w.store.save_calibration(cal, stamp=True)
                log.info("calibration saved to %s", path)
                use_calibration(lens, cal)
            else:
                use_calibration(lens, cal)
                progress(w, Activity.HOMING)("homing", 0.0)
                started = w.clock.now()
                lens.home()
                log.info("homed in %.1f s", w.clock.now() - started)
            w.observer.calibrated(cal)
            refused = False
            while not (test := self.moves(lens)).moved:
                refused = True
                message = ("the lens does not move: set the lens switch to AF "
                           "(or point the camera at something with detail)")
                self.report(message, kind="lens_mf")
                if self.wait(RETRY_S):
                    raise Cancelled()
            if refused or not test.homed:
                # The homing before the check ran on a lens that did not move
                # (or not all the way: switched to AF meanwhile): home again
                # now that it does.  The stop, not the count, says where it is.
                progress(w, Activity.HOMING)("homing", 0.0)
                lens.home()
            self.scenes.recall(lens)
        except gp.GPhoto2Error as exc:
            if exc.code in LOST:
                raise CameraLost(exc) from None
            raise
        except CalibrationError as exc:
            if exc.code in LOST:         # the camera went away while calibrating
                raise CameraLost(exc) from None
            raise
        self.ready(lens)
        return cal

    def ready(self, lens: Lens) -> None:
        assert lens.model is not None
        w = self.w
        self.reported = ""
        w.post(Ready(lens.model, round(lens.position or 0), w.clock.now(), lens.uncertainty))

    def moves(self, lens: Lens) -> Moved:
        """A short test drive and back: did the lens move, and was it homed?

        (:func:`rig.precheck.drive_test`, which ``rig doctor`` runs too.)  A
        picture with no structure at all (a blank wall) cannot tell: rig says
        so in the log and carries on rather than blame the lens switch.  A
        lens that moves but did not come back to the picture it left was not
        on the near stop: the homing before it drove a lens that did not
        move (all the way), and must be done again.
        """
        test = drive_test(lens)
        log.info("test drive: %s (%s: %s)", test.result, test.how, test.detail)
        if test.result == UNSEEN:
            log.warning("the picture has too little detail to see the lens move; "
                        "carrying on (if the lens does not move, set it to AF)")
        return Moved(test.result != STILL, test.returned is not False)

    def refused(self, lens: Lens, message: str) -> None:
        """Show what the operator must fix, retry until it is fixed, re-home."""
        self.report(message, kind=kind_of(message))
        while True:
            if self.wait(RETRY_S):
                raise Cancelled()
            try:
                lens.liveview_on()
                lens.home()
                test = self.moves(lens)
                if test.moved:
                    if not test.homed:      # fixed while it homed: home again
                        lens.home()
                    break
            except LensError as exc:
                message = str(exc)
        self.ready(lens)

    # -- 3. the keepalive
    def touched(self) -> None:
        """A job used the camera: live view is on."""
        self._kept = self.w.clock.now()

    def _keepalive_period(self) -> float:
        return max(self.keepalive_s, KEEPALIVE_PLAY_S) if self.playing() else self.keepalive_s

    def _watched_due(self) -> float:
        """When the web page's watchers are due their next frame (inf: nobody watches)."""
        period = self.live.period(self.playing()) if self.live is not None else None
        if period is None:
            return math.inf
        assert self.live is not None
        return self.live.latest()[2] + period

    def idle_until(self) -> float:
        """When the idle worker next looks: a keepalive or a watched frame due, or a look."""
        return min(self._kept + self._keepalive_period(), self._watched_due(),
                   self.w.clock.now() + IDLE_LOOK_S)

    def idle(self, lens: Lens) -> None:
        """Nothing to do: keep live view on when due, else a frame for the page's watchers."""
        now = self.w.clock.now()
        if now >= self._kept + self._keepalive_period():
            self._keep_liveview(lens)
            self._kept = self.w.clock.now()
        elif now >= self._watched_due():
            try:
                lens.frame()    # published by lens.on_frame
            except LiveViewFrozen:
                pass   # the page shows the same picture; checks say when it matters

    def _keep_liveview(self, lens: Lens) -> None:
        """A frame keeps live view on; if it had been switched off, say so."""
        w = self.w
        if "liveview" in lens.caps.preconditions and lens.liveview_is_on() is False:
            log.warning("live view was off: turned it back on")
            w.post(Notice("live view turned on", w.clock.now(), kind="liveview"))
            lens.liveview_on()
        else:
            try:
                lens.frame()
            except LiveViewFrozen:
                pass   # it keeps live view on all the same; checks say when it matters
