"""Where the lens is, and how sure the rig is of it: the position model.

Canon tells the host nothing about the lens: the rig counts.  Each drive
command moves the lens by its calibrated steps (``LensModel.move``, the
caller's business); this module keeps the count's *uncertainty*, one
standard deviation in size-1 steps, by three rules:

* **A command spreads it.**  Calibration measures, for each drive size, how
  much one command's steps vary (``jitter``, one sigma).  Independent
  errors add their variances, so after ``n`` commands of spread ``s`` the
  position is off by about ``s * sqrt(n)``.
* **A command that may have been lost spreads it by its whole size.**  A
  call that failed with an I/O error may or may not have moved the lens; a
  camera that drops a share ``p`` of its commands loses each with that
  chance.  Either way the command's steps are in doubt: variance
  ``p (1 - p) steps^2`` for a known share, ``steps^2`` for a single doubt.
* **A stop ends it.**  Driven into the near stop (homing), the lens is at
  0 whatever came before: the variance is zero again.  A reading to the
  step (Fuji's position) counts as a stop.  Nothing else zeroes it: a look
  at the live view places the lens only to within ``PICTURE_FLOOR``.

Time adds a little too (``drift_per_hour``): a lens left alone for hours
may have been touched.

Pure: a :class:`Tracked` is a frozen value, every change returns a new one,
and the time is given by the caller.  :class:`rig.lens.Lens` holds one and
replaces it as commands go out; ``docs/cameras.md`` says what re-homing
bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["Tracked", "PICTURE_FLOOR", "DRIFT_PER_HOUR", "lost_variance", "after_commands"]

# The best a look at the live view places the lens to (one sigma, steps):
# only a stop, or a reading to the step, puts the uncertainty at zero.
PICTURE_FLOOR = 0.5
DRIFT_PER_HOUR = 1.0     # variance added per hour since the last reference (steps^2)


def lost_variance(steps: float, share: float) -> float:
    """The variance a command of ``steps`` adds when it is lost with chance ``share``.

    ``share`` 1 (or more) is a single command in doubt: its whole size.
    """
    if share >= 1.0:
        return steps * steps
    share = max(0.0, share)
    return share * (1.0 - share) * steps * steps


def after_commands(spread: float, commands: int) -> float:
    """One sigma after ``commands`` commands of one-sigma ``spread`` each from a stop."""
    return spread * math.sqrt(max(0, commands))


@dataclass(frozen=True)
class Tracked:
    """The tracked position (steps from the near stop) and its spread.

    ``position`` is None until a reference is found (homing); ``variance``
    is in steps^2 and ``since`` the clock time of the last reference.
    """

    position: float | None = None
    variance: float = math.inf
    since: float = 0.0
    drift_per_hour: float = DRIFT_PER_HOUR

    @property
    def known(self) -> bool:
        return self.position is not None

    def sigma(self, now: float) -> float:
        """One standard deviation, in steps, at ``now`` (inf while unknown)."""
        if self.position is None:
            return math.inf
        hours = max(0.0, now - self.since) / 3600.0
        return math.sqrt(self.variance + self.drift_per_hour * hours)

    # -- the stops: the only way to zero
    def at_stop(self, position: float, now: float) -> "Tracked":
        """Driven into a stop (or read to the step): exactly ``position``."""
        return replace(self, position=float(position), variance=0.0, since=now)

    # -- commands
    def moved(self, position: float, spread: float = 0.0, *, steps: float = 0.0,
              lost: float = 0.0) -> "Tracked":
        """A command moved the count to ``position``.

        ``spread``: the calibrated one-sigma error of a command of its size;
        ``steps`` and ``lost``: its size and the chance it was lost
        (:func:`lost_variance`).  Unknown stays unknown.
        """
        if self.position is None:
            return self
        added = spread * spread + (lost_variance(steps, lost) if lost > 0 else 0.0)
        return replace(self, position=float(position), variance=self.variance + added)

    # -- other sources
    def placed(self, position: float, sigma: float, now: float) -> "Tracked":
        """Something other than counting (a coarse reading, the picture) puts the lens here.

        Never surer than ``PICTURE_FLOOR``: only a stop zeroes the spread.
        """
        sigma = max(float(sigma), PICTURE_FLOOR)
        return replace(self, position=float(position), variance=sigma * sigma, since=now)

    def doubted(self, sigma: float) -> "Tracked":
        """A check could not place the lens: at least ``sigma`` of spread."""
        return replace(self, variance=max(self.variance, sigma * sigma))

    def forgotten(self) -> "Tracked":
        """The position is lost (a new calibration, a lens that may have been turned)."""
        return replace(self, position=None, variance=math.inf)
