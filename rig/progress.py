"""Calibration progress on the command line: phase, percentage, time left.

A calibration reports ``progress(phase, fraction, eta_s=None)`` (the share
of the whole done, 0..1, and the seconds left when it knows them; older
calibrations pass only the first two).  :class:`ProgressLine` shows it:

* on a terminal, one line rewritten in place:
  ``calibrating: size 3 sweep   62 %   about 4 min left``;
* into a file or a pipe (a log), a line at each new phase and every 10 %.

Without ``eta_s``, the time left is estimated from the share done and the
time it took so far, once there is enough of both to mean something.
"""

from __future__ import annotations

import math
import time
from typing import Callable, TextIO

__all__ = ["ProgressLine", "time_left", "estimate"]

MIN_ELAPSED_S = 3.0       # before this, an estimate from the elapsed time is noise
MIN_FRACTION = 0.02


def time_left(seconds: float) -> str:
    """"about 40 s left", "about 4 min left", "about 1 h 5 min left"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"about {max(5, 5 * math.ceil(seconds / 5)):.0f} s left"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


def estimate(fraction: float, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far, or None while that says too little."""
    if fraction < MIN_FRACTION or elapsed_s < MIN_ELAPSED_S or fraction >= 1:
        return None
    return elapsed_s * (1 - fraction) / fraction


class ProgressLine:
    """Shows a calibration's progress on ``stream`` (stderr)."""

    def __init__(self, stream: TextIO, *, quiet: bool = False,
                 now: Callable[[], float] = time.monotonic, label: str = "calibrating") -> None:
        self.stream = stream
        self.quiet = quiet
        self.now = now
        self.label = label
        self.start = now()
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.phase = ""
        self.decile = -1
        self.width = 0            # of the line on screen (a terminal)

    def text(self, phase: str, fraction: float, eta_s: float | None) -> str:
        fraction = min(max(fraction, 0.0), 1.0)
        left = eta_s if eta_s is not None else estimate(fraction, self.now() - self.start)
        tail = time_left(left) if left is not None else "estimating the time left"
        return f"{self.label}: {phase:<18} {100 * fraction:3.0f} %   {tail}"

    def update(self, phase: str, fraction: float, eta_s: float | None = None) -> None:
        if self.quiet:
            return
        text = self.text(phase, fraction, eta_s)
        if self.tty:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.width = len(text)
        else:
            decile = int(10 * min(max(fraction, 0.0), 1.0))
            if phase == self.phase and decile == self.decile:
                return
            self.stream.write(text + "\n")
            self.decile = decile
        self.phase = phase
        self.stream.flush()

    def done(self) -> None:
        """The calibration finished: end the line on a terminal."""
        self.stop()

    def stop(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
