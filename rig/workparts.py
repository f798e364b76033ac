"""The lens worker's parts: what each of its jobs needs, and the reports they share.

:class:`rig.worker.LensWorker` owns the camera and is a thin facade over
named parts, each with its own state, that pass data on:

* :class:`Link` (``rig/worklink.py``): the connection, the start (calibrate
  or home, the test drive) and the keepalive while idle;
* :class:`Scenes` (``rig/workscene.py``): the scene learnt for live-view
  checks, recalled at start, learnt on entering play in a still scene, and
  the check after a pull;
* :class:`Commands` (``rig/workjobs.py``): the lens jobs the core asks for
  (pulls, jogs, nudges, homing, autofocus).

This module holds what they share: the :class:`Wiring` (clock, the core's
channel, the observer, the worker's inbox, the store) and the reports to
the core (:func:`moved`, :func:`progress`).  Everything runs in the
worker's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .autofocus import AFResult
from .calibration import Calibration
from .clock import Channel, Clock
from .lens import Execution, Lens
from .planner import Plan
from .sequencer import Activity, Moved, Progress, Transition
from .store import Store

__all__ = ["Wiring", "Observer", "NullObserver", "Stop", "moved", "progress", "interrupted"]


class Stop:
    """Ask the worker to end (the service stops)."""


class Observer(Protocol):
    """Hooks for a harness that watches the app (the simulator's report)."""

    def calibrated(self, cal: Calibration) -> None: ...
    def transition_started(self, tr: Transition, plan: Plan) -> None: ...
    def transition_ended(self, tr: Transition, run: Execution, position: float,
                         sigma: float) -> None: ...
    def focused(self, result: AFResult, sigma: float) -> None: ...
    def learned(self, started: float, ended: float) -> None: ...
    def homed(self, started: float, ended: float) -> None: ...
    def error(self, message: str) -> None: ...


class NullObserver:
    """Watches nothing (the rig itself)."""

    def calibrated(self, cal: Calibration) -> None: pass
    def transition_started(self, tr: Transition, plan: Plan) -> None: pass
    def transition_ended(self, tr: Transition, run: Execution, position: float,
                         sigma: float) -> None: pass
    def focused(self, result: AFResult, sigma: float) -> None: pass
    def learned(self, started: float, ended: float) -> None: pass
    def homed(self, started: float, ended: float) -> None: pass
    def error(self, message: str) -> None: pass


@dataclass(frozen=True)
class Wiring:
    """What every part of the worker talks to."""

    clock: Clock
    post: Callable[[Any], None]      # to the core
    observer: Observer
    inbox: Channel                   # the worker's jobs
    store: Store


def moved(w: Wiring, lens: Lens, checking: bool = False) -> None:
    """Tell the core where the lens is now, and how sure the rig is of it."""
    w.post(Moved(round(lens.position or 0), w.clock.now(), lens.trusted, checking,
                 lens.uncertainty))


def progress(w: Wiring, activity: Activity) -> Callable[..., None]:
    """A progress callback that reports ``activity`` (or homing) to the core, not too often."""
    last: list[Any] = [None, -1.0]

    # eta_s: the calibration's estimate of the seconds left (contracts.md), not shown yet.
    def report(phase: str, fraction: float, eta_s: float | None = None) -> None:
        if phase != last[0] or fraction - last[1] >= 0.02:
            last[0], last[1] = phase, fraction
            shown = Activity.HOMING if phase == "homing" else activity
            w.post(Progress(shown, phase, fraction, w.clock.now()))
    return report


def interrupted(w: Wiring) -> Callable[[], bool]:
    """A new job waits: checks, learning and take-up give way to it."""
    return lambda: len(w.inbox) > 0
