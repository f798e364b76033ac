"""Where the lens really is, from the live view, on cameras that do not say.

Canon, Olympus, Panasonic and Nikon bodies report no focus position over
USB.  Counting commands drifts: a size-3 command moves its 26 steps give or
take a couple, and a command the camera drops loses all of them.  What the
camera does give is the live view, and in a still scene the picture is a
function of the lens position.  So the rig *learns the scene*: from the
near stop it steps one size-1 step at a time towards the far stop and keeps
a small fingerprint of the picture at every step (:func:`learn_scene`).
That table, cleaned of sensor noise, is a position encoder for this scene
(the approach OpenFlexure uses with its sharpness curve, here with the
whole picture).

After every move the rig looks (:func:`check_arrival`): it matches a frame
against the table around where the lens should be, moves the difference,
and looks again until the picture says the lens is on its target.  Each
look is scored together with the earlier ones, shifted by the size-1 steps
made in between, which settles the one real ambiguity of a focus table:
either side of a sharp subject the picture blurs alike, and one look cannot
tell 5 steps short from 5 steps long, while two looks a known step apart
can.

What it cannot do, and says so:

* a scene that changed (someone walked in, the camera moved): the frame fits
  no table entry well, the rig makes no correction and the position stays
  "in doubt";
* inside the depth of field the picture hardly changes from step to step:
  there the check is only as fine as the picture, which is also where a
  focus error cannot be seen in the footage;
* it needs a picture with detail (a blank wall gives nothing to match).
"""

from __future__ import annotations

import io
import logging
import math
import statistics
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .inputs import InputError
from .lens import FAR, NEAR, Lens, LiveViewFrozen
from .vision import Encoder, distance, fingerprint, low_rank

log = logging.getLogger(__name__)

__all__ = ["SceneMap", "Check", "learn_scene", "check_arrival", "holds", "LEARN_MARGIN",
           "FINE"]

LEARN_MARGIN = 40   # the table reaches this many steps past the farthest point
FINE = 8            # corrections up to this many steps use size-1 commands (exact)
FIT = 1.0           # a look fits when its residual is at most FIT x the scene's noise
LOOKS = 6           # looks (and corrections) after one move, at most
SETTLED = 0.75      # within this many steps of the target: arrived
TIE = 0.02          # candidates whose mean residuals differ by less: a tie, in noise units
AMBIGUOUS = 0.1     # a rival this close, more than FINE steps away: look again first
FLAT_FOCUS = 0.005  # the target fits this close to the best: the picture says "on target"
MIN_ROWS = 12       # fewer table rows than this is no table
FROZEN_PATIENCE_S = 4.0   # a frozen live view is waited out this long before giving up


@dataclass
class SceneMap:
    """Cleaned fingerprints of the scene, row ``i`` at position ``i`` (size-1 steps)."""

    table: np.ndarray
    noise: float          # distance between two frames at rest (grey levels squared)
    camera: str = ""
    lens: str = ""

    def __post_init__(self) -> None:
        self.table = np.asarray(self.table, dtype=np.float32)
        self.encoder = Encoder(self.table)

    @property
    def reach(self) -> int:
        """The farthest position the table covers (it starts at the near stop)."""
        return len(self.table) - 1

    def covers(self, position: float) -> bool:
        return 0 <= position <= self.reach

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, table=self.table.astype(np.float16),
                            noise=np.float32(self.noise),
                            names=np.array([self.camera, self.lens]))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> "SceneMap":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                table = np.asarray(npz["table"], dtype=np.float32)
                noise = float(npz["noise"])
                names = [str(v) for v in npz["names"]]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(source, f"not a scene map rig wrote ({exc})") from None
        if (table.ndim != 2 or len(table) < MIN_ROWS or len(names) != 2
                or not np.isfinite(table).all() or not math.isfinite(noise) or noise <= 0):
            raise InputError(source, "not a scene map rig wrote (bad table)")
        return cls(table, noise, names[0], names[1])


@dataclass(frozen=True)
class Check:
    """What the live view said after a move."""

    verified: bool                 # the picture puts the lens on its target
    found: float | None = None     # where the first look put the lens, minus the target
    left: float | None = None      # the same after the corrections
    looks: int = 0
    corrected: int = 0             # steps driven to correct
    reason: str = ""


def _look(lens: Lens, stop: Callable[[], bool] | None = None) -> np.ndarray:
    """A fingerprint of the frame now, waiting out a live view that froze a moment."""
    lens.wait_free()
    give_up = lens.clock.now() + FROZEN_PATIENCE_S
    while True:
        try:
            return fingerprint(lens.frame())
        except LiveViewFrozen:
            if lens.clock.now() >= give_up or (stop is not None and stop()):
                raise


def learn_scene(lens: Lens, reach: int, progress: Callable[[float], None] | None = None,
                stop: Callable[[], bool] | None = None) -> SceneMap | None:
    """Step from the near stop (the lens must be homed there) up to ``reach``.

    ``stop`` ends the sweep early: the table learnt so far is kept.
    Returns None when too little was learnt to be of use.
    """
    assert lens.model is not None and lens.position == 0.0, "home first"
    reach = int(min(max(reach, 0), lens.model.steps))
    rest = [_look(lens) for _ in range(3)]
    noise = max(statistics.median([distance(rest[0], rest[1]), distance(rest[1], rest[2]),
                                   distance(rest[0], rest[2])]), 1e-3)
    rows = [rest[2]]
    for i in range(reach):
        if stop is not None and stop():
            break
        lens.send(1, FAR)
        try:
            rows.append(_look(lens, stop))
        except LiveViewFrozen:
            log.warning("the live view froze while learning the scene: kept %d steps",
                        len(rows) - 1)
            break
        if progress is not None:
            progress((i + 1) / max(reach, 1))
    if len(rows) < MIN_ROWS:
        return None
    clean, _rank = low_rank(np.stack(rows), noise)
    return SceneMap(clean, noise, lens.camera_model, lens.lens_name)


class _Looks:
    """Looks at the lens, each a known number of size-1 steps from the first."""

    def __init__(self, scene: SceneMap, around: float, lo: float, hi: float) -> None:
        self.scene = scene
        self.around = around
        self.lo = int(max(0, math.floor(lo)))
        self.hi = int(min(scene.reach, math.ceil(hi)))
        self.shifts: list[int] = []
        self.rows: list[np.ndarray] = []

    def add(self, fp: np.ndarray, shift: int) -> None:
        self.shifts.append(shift)
        self.rows.append(self.scene.encoder.distances(fp))

    def where(self, target: float | None = None) -> tuple[float, float, bool, bool] | None:
        """(start, mean residual, ambiguous, on target) that best explain every look.

        Ambiguous: a candidate more than FINE steps away explains the looks
        almost as well (the other side of a sharp subject).  On target: the
        looks cannot tell the lens from being at ``target`` (given as where
        the last look was taken), which inside the depth of field is true
        of a few steps either side.
        """
        reach = self.scene.reach
        lo = max(self.lo, max(-s for s in self.shifts))
        hi = min(self.hi, min(reach - s for s in self.shifts))
        if hi < lo:
            return None
        starts = np.arange(lo, hi + 1)
        score = np.zeros(len(starts))
        for shift, row in zip(self.shifts, self.rows):
            score += row[starts + shift]
        score /= len(self.rows)
        best = float(score.min())
        noise = self.scene.noise
        # Ties (within noise) go to the candidate nearest the belief.
        tied = np.flatnonzero(score <= best + TIE * noise)
        i = int(tied[np.argmin(np.abs(starts[tied] - self.around))])
        position = float(starts[i])
        if 0 < i < len(score) - 1:
            a, b, c = score[i - 1], score[i], score[i + 1]
            curve = a - 2 * b + c
            if curve > 0:
                position += float(np.clip(0.5 * (a - c) / curve, -0.5, 0.5))
        # A rival is a separate dip of its own (the mirror image about a sharp
        # subject), not the far slope of this one: a blurred picture changes
        # slowly, so its whole valley is shallow.
        dips = np.ones(len(score), dtype=bool)
        dips[1:] &= score[1:] <= score[:-1]
        dips[:-1] &= score[:-1] <= score[1:]
        rivals = (dips & (np.abs(starts - starts[i]) > FINE)
                  & (score <= best + AMBIGUOUS * noise))
        on_target = False
        if target is not None:
            j = int(round(target)) - self.shifts[-1] - lo
            on_target = 0 <= j < len(score) and float(score[j]) <= best + FLAT_FOCUS * noise
        return position, float(score[i]), bool(rivals.any()), on_target


def _window(lens: Lens, belief: float, start: float | None) -> tuple[float, float]:
    """Where the lens can be after a move from ``start`` the rig believes ended at ``belief``.

    Either side: three sigma of the tracked spread, plus 5 % of the move (a
    calibration a little off, a lens that has changed since).  On the side
    the move came from, also two of the largest commands lost (a dropped
    command always leaves the lens short).  Far beyond that, a look that
    matches is the mirror image of the truth about a sharp subject.
    """
    assert lens.model is not None
    moved = 0.0 if start is None else abs(belief - start)
    spread = 2.0 + 3.0 * min(lens.uncertainty, 20.0) + 0.05 * moved
    lost = 2.0 * max(d.steps for d in lens.model.drives)
    if start is None or start == belief:
        return belief - spread - lost, belief + spread + lost
    if belief > start:
        return belief - spread - lost, belief + spread
    return belief - spread, belief + spread + lost


def _fits(scene: SceneMap, fit: tuple[float, float, bool] | None) -> bool:
    return fit is not None and fit[1] <= FIT * scene.noise


def check_arrival(lens: Lens, scene: SceneMap, target: float, start: float | None = None,
                  stop: Callable[[], bool] | None = None) -> Check:
    """Look where the lens is; correct towards ``target`` until the picture agrees.

    ``start`` is where the move began (None when unknown).
    The lens's tracked position is set from the picture whenever a look
    fits; it is trusted again (to half a step) once a look puts the lens on
    the target.

    Looks are scored together, shifted by the exact size-1 corrections made
    between them.  When they stop agreeing (a correction command was lost
    on the way), the latest look starts afresh; when even that fits nowhere
    near the belief, the whole table is searched; when nothing fits, the
    scene is not the one learnt and nothing is corrected.

    ``stop`` (a press waits) cuts the check short between two camera calls,
    except where the lens was just moved on something only the next look
    can confirm; that look, and the correction it calls for, come first:

    * after an ambiguous look: it fits both sides of a sharp subject, the
      lens moves up to ``FINE`` size-1 steps on a guess, and only the next
      look says whether the guess was the mirror image.  Cut short there,
      the lens would stay where a wrong guess put it, up to twice as far
      off as the pull left it;
    * after a correction with larger commands (a lost command made up):
      those have their spread, and one of them may be lost in turn.
    """
    assert lens.position is not None
    looks = _Looks(scene, lens.position, *_window(lens, lens.position, start))
    shift = 0
    found = left = None
    moved = 0
    settling = False      # the last look was ambiguous: its probe is not judged yet
    for n in range(1, LOOKS + 1):
        lens.wait_free()
        if stop is not None and not settling and stop():   # the look waits
            return Check(False, found, left, n - 1, moved, "interrupted")
        try:
            fp = _look(lens, stop)
        except LiveViewFrozen:
            lens.doubt()
            return Check(False, found, left, n, moved, "the live view froze")
        looks.add(fp, shift)
        fit = looks.where(target)
        if not _fits(scene, fit) and len(looks.rows) > 1:
            looks = _Looks(scene, lens.position, *_window(lens, lens.position, None))
            looks.add(fp, 0)
            shift = 0
            fit = looks.where(target)
        if not _fits(scene, fit):
            looks = _Looks(scene, lens.position, 0, scene.reach)
            looks.add(fp, 0)
            shift = 0
            fit = looks.where(target)
        if fit is None or not _fits(scene, fit):
            lens.doubt()
            reason = ("outside the scene learnt" if fit is None
                      else "the picture does not match the scene learnt")
            return Check(False, found, left, n, moved, reason)
        start, residual, ambiguous, on_target = fit
        here = start + shift
        left = here - target
        found = left if found is None else found
        log.debug("look %d at %s: %.1f (residual %.3f of noise %.3f%s%s)", n, target, here,
                  residual, scene.noise, ", ambiguous" if ambiguous else "",
                  ", on target" if on_target else "")
        if (abs(left) < SETTLED or on_target) and not ambiguous:
            lens.fix_position(float(target), sigma=0.5)
            return Check(True, found, left, n, moved)
        lens.fix_position(here, sigma=3.0 if ambiguous else 1.0)
        if stop is not None and not (settling or ambiguous) and stop():
            return Check(False, found, left, n, moved, "interrupted")
        steps = round(target - here)
        if ambiguous:
            # Two places fit: a few exact steps (a probe when already on
            # target), and the next look tells them apart.
            steps = max(-FINE, min(FINE, steps)) or (FINE // 2 if here < scene.reach / 2
                                                     else -(FINE // 2))
        settling = ambiguous
        if steps == 0:
            continue
        if abs(steps) <= FINE:
            way = FAR if steps > 0 else NEAR
            lens.take_up(way)          # a reversal: the play first (the lens waits)
            before = lens.position
            for _ in range(abs(steps)):
                lens.wait_free()
                lens.send(1, way)
            shift += round(lens.position - before)   # what they moved, less any play
        else:
            # Far off (a command lost): the planned move, then look afresh
            # around the new belief, either side (the look before may have
            # been the mirror image).
            lens.move_to(round(target))
            looks = _Looks(scene, lens.position, *_window(lens, lens.position, None))
            shift = 0
            settling = True     # larger commands: one may be lost, the next look says
        moved += abs(steps)
    lens.doubt()
    return Check(False, found, left, LOOKS, moved, "did not settle")


def holds(lens: Lens, scene: SceneMap) -> bool:
    """Whether the scene learnt is still the scene: a look puts the lens where it is.

    Used where the position is known without the picture (just homed, or
    trusted), so a look that fits elsewhere or not at all means the scene
    (or the camera's aim) changed.  No lens motion.
    """
    if lens.position is None or not scene.covers(lens.position):
        return False
    looks = _Looks(scene, lens.position, *_window(lens, lens.position, None))
    try:
        looks.add(_look(lens), 0)
    except LiveViewFrozen:
        return False
    fit = looks.where()
    if fit is None:
        return False
    here, residual, _ambiguous, _on = fit
    return residual <= FIT * scene.noise and abs(here - lens.position) < max(
        SETTLED, 2.0 * lens.uncertainty)
