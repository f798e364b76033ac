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

The worker is a thin facade over named parts (``rig/workparts.py``): the
link to the camera (:class:`~rig.worklink.Link`: connection, start,
keepalive), the scene checks (:class:`~rig.workscene.Scenes`) and the
commands (:class:`~rig.workjobs.Commands`).  One dispatch table,
:attr:`LensWorker.jobs`, says which part does each job, as the core's
``_HANDLERS`` do for events.  After each job the worker publishes a
:class:`LensStatus`, a frozen snapshot that other threads (the web page,
the app) read instead of the worker's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gphoto2 as gp

from .autofocus import AFResult
from .calibrate import CalibrationSettings
from .calibration import Calibration
from .clock import EMPTY, Clock
from .inputs import InputError
from .lens import Cancelled, Lens, LensError, Trust
from .liveview import LiveFeed
from .sequencer import Arm, Autofocus, Home, JogStart, JogStop, Move, Nudge, Skip
from .store import Store
from .workjobs import Commands
from .worklink import (FIX_RETRY_S, IDLE_LOOK_S, KEEPALIVE_PLAY_S, KEEPALIVE_S, LOST, RETRY_S,
                       WAIT_FOR, CameraLost, Link, kind_of, use_calibration)
from .workparts import NullObserver, Observer, Stop, Wiring
from .workscene import Scenes

__all__ = ["LensWorker", "LensStatus", "Stop", "Observer", "NullObserver", "use_calibration",
           "RETRY_S", "FIX_RETRY_S", "KEEPALIVE_S", "KEEPALIVE_PLAY_S", "IDLE_LOOK_S",
           "WAIT_FOR", "LOST", "CameraLost"]


@dataclass(frozen=True)
class LensStatus:
    """What the lens worker last knew, published for other threads after each job.

    A new value replaces the old one whole (one reference assignment), so a
    reader sees one consistent snapshot, never a half-updated worker.
    """

    camera: str = ""
    lens: str = ""                          # the lens name ("" before a camera connects)
    calibration: Calibration | None = None
    position: float | None = None           # the tracked position (steps)
    uncertainty: float = float("inf")       # its one sigma (steps)
    trusted: bool = False
    scene_learnt: bool = False              # a scene for live-view checks is held
    last_af: AFResult | None = None
    af_count: int = 0


def _nothing(lens: Lens, job: Any) -> None:
    """JogStop, Skip: the jog (or the learning) has already ended."""


class LensWorker:
    """Owns the camera: connects, homes or calibrates, runs lens jobs, recovers."""

    def __init__(self, clock: Clock, open_camera: Callable[[], Any], store: Store,
                 post: Callable[[Any], None], *, observer: Observer,
                 settings: CalibrationSettings, live: LiveFeed | None = None,
                 playing: Callable[[], bool] = lambda: False,
                 keepalive_s: float = KEEPALIVE_S, trust: Trust | None = None) -> None:
        self.clock = clock
        self.inbox = clock.channel()
        self.live = live
        self.wiring = Wiring(clock, post, observer, self.inbox, store)
        self.scenes = Scenes(self.wiring)
        self.link = Link(self.wiring, open_camera, settings=settings, trust=trust or Trust(),
                         scenes=self.scenes, live=live, playing=playing,
                         keepalive_s=keepalive_s)
        self.commands = Commands(self.wiring, self.scenes)
        #: Which part does each job (the core's effects that reach the lens).
        self.jobs: dict[type, Callable[[Lens, Any], None]] = {
            Move: self.commands.move,
            JogStart: self.commands.jog,
            Nudge: self.commands.nudge,
            Home: self.commands.home,
            Autofocus: self.commands.autofocus,
            Arm: lambda lens, job: self.scenes.arm(lens, job.farthest),
            JogStop: _nothing,
            Skip: _nothing,
        }
        # The camera session's lens: owner thread only (others read ``status``).
        self.lens: Lens | None = None
        self.calibration: Calibration | None = None
        self.status = LensStatus()
        self.cancelled = False

    # -- what other threads read
    def _publish_status(self) -> None:
        lens, commands = self.lens, self.commands
        self.status = LensStatus(
            camera=lens.camera_model if lens else "",
            lens=lens.lens_name if lens else "",
            calibration=self.calibration,
            position=lens.position if lens else None,
            uncertainty=lens.uncertainty if lens else float("inf"),
            trusted=lens.trusted if lens else False,
            scene_learnt=self.scenes.scene is not None,
            last_af=commands.last_af, af_count=commands.af_count)

    @property
    def last_af(self) -> AFResult | None:
        return self.status.last_af

    @property
    def af_count(self) -> int:
        return self.status.af_count

    # -- the cycle
    def run(self) -> None:
        retrying = False
        while not self.cancelled:
            try:
                lens = self.link.connect(self._publish_frame, quiet=retrying)
                retrying = False
                if lens is None:
                    return
                self.lens = lens
                self._publish_status()
                self.calibration = self.link.start(lens)
                self._publish_status()
                if self._serve(lens):
                    return
            except Cancelled:
                return
            except CameraLost as exc:
                self.link.report(f"camera lost: {exc}", kind="camera")
                self._drop()
            except (LensError, InputError, gp.GPhoto2Error) as exc:
                # A camera, lens or file that cannot work as it is (no focus
                # drive, lens on MF while calibrating, a damaged profile): say
                # what to fix, then start over with a new session, so fixing
                # it (or plugging in another camera) needs no restart.
                self.link.report(str(exc), kind=kind_of(str(exc)))
                self._drop()
                if self.link.wait(FIX_RETRY_S):
                    return
                retrying = True

    def _drop(self) -> None:
        """Close the session; the next attempt opens a new ``gp.Camera``."""
        if self.lens is not None:
            self.lens.close()
        self.lens = None
        self._publish_status()

    def cancel(self) -> None:
        """Stop what the lens is doing at its next camera call (service stop)."""
        self.cancelled = True
        self.link.cancelled = True
        if self.lens is not None:
            self.lens.cancelled = True
        self.inbox.put(Stop())

    def _publish_frame(self, frame: bytes) -> None:
        if self.live is not None:
            self.live.publish(frame, self.clock.now())

    def _serve(self, lens: Lens) -> bool:
        """Run lens jobs until the rig stops (True) or the camera is lost (raises)."""
        link = self.link
        link.touched()
        while True:
            job = self.inbox.get(until=link.idle_until())
            try:
                if job is EMPTY:
                    link.idle(lens)
                    continue
                if isinstance(job, Stop):
                    return True
                self.jobs[type(job)](lens, job)
                link.touched()
            except gp.GPhoto2Error as exc:
                if exc.code in LOST:
                    raise CameraLost(exc) from None
                link.refused(lens, str(exc))
            except LensError as exc:
                link.refused(lens, str(exc))
            finally:
                if job is not EMPTY:
                    self._publish_status()
