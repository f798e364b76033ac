"""What happens in front of the simulated camera, over (virtual) time.

:class:`Scene` holds the scene's depths and the camera's moves: the subject
moving in depth, the camera panning and dollying, people walking across,
the light changing.  The session script's actions land here
(``rig.harness``), each either at once or as a ramp over some seconds.  It
is pure arithmetic on distances; :mod:`rig.simview` draws the picture.

Depth is kept in dioptres (1 / distance).  The lens focuses at
``D0 (1 - x/R)`` dioptres at position ``x`` of range ``R``: ``D0`` is
``1/min_focus_m`` with ``[optics]``; on a legacy profile ``D0`` is 1 in
units of its own (its positions are just as linear in dioptres, and a
dolly's effect on the sharp position, ``x' = R - F (R - x)``, does not
depend on the unit).  The camera's dolly ``m`` is in the same unit
(metres with optics): a layer ``W`` dioptres from where the camera started
is ``w = W / (1 - m W)`` from it now, and looks ``w / w0`` times as large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Scene", "SceneError", "Ramp", "WALKER_RATIO"]

WALKER_RATIO = 0.6        # someone crossing the frame is at 0.6 x the subject's distance
MIN_GAP = 0.01            # a dolly must leave every layer at least 1 % of its distance


class SceneError(ValueError):
    """A scene action that cannot happen (the camera would pass through a layer...)."""


# ------------------------------------------------------------------ ramps


@dataclass(frozen=True)
class Ramp:
    """A value going from v0 at t0 to v1 at t1, linearly (or geometrically)."""

    t0: float
    t1: float
    v0: float
    v1: float
    geometric: bool = False

    def at(self, t: float) -> float:
        if t >= self.t1 or self.t1 <= self.t0:
            return self.v1
        if t <= self.t0:
            return self.v0
        f = (t - self.t0) / (self.t1 - self.t0)
        if self.geometric:
            return self.v0 * (self.v1 / self.v0) ** f
        return self.v0 + (self.v1 - self.v0) * f


class _Quantity:
    """One changing value: each change starts from where it is now."""

    def __init__(self, value: float, geometric: bool = False) -> None:
        self.ramp = Ramp(-math.inf, -math.inf, value, value, geometric)

    @property
    def target(self) -> float:
        return self.ramp.v1

    def at(self, t: float) -> float:
        return self.ramp.at(t)

    def go(self, t: float, target: float, over: float) -> None:
        self.ramp = Ramp(t, t + max(over, 0.0), self.ramp.at(t), target, self.ramp.geometric)

    @property
    def still(self) -> bool:
        return self.ramp.v0 == self.ramp.v1


@dataclass(frozen=True)
class Walker:
    t0: float
    seconds: float
    dioptres: float       # from where the camera started (world)


# ------------------------------------------------------------------ scene


class Scene:
    """The scene's depths and the camera's moves, as functions of time.

    ``layers`` are the world dioptres of the profile's layers (the last is
    the subject; a legacy profile has one, its plane); ``near`` is D0.
    """

    def __init__(self, span: float, near: float, subject_at: float,
                 layers: list[float], *, legacy: bool) -> None:
        self.span = float(span)
        self.near = float(near)
        self.legacy = legacy
        self.fixed = list(layers[:-1])          # all but the subject: fixed in the world
        # the subject's own depth as this class computes it (so its scale is exactly 1)
        self.layers0 = self.fixed + [self.near * (1.0 - subject_at / self.span)]
        # The subject as "the position where it would be sharp had the camera not
        # moved": linear in its world dioptres, and exact on a legacy profile.
        self.subject = _Quantity(float(subject_at))
        self.dolly = _Quantity(0.0)             # how far the camera moved in (m or D0 units)
        self.pan = _Quantity(0.0)               # pixels the picture moved left
        self.light = _Quantity(1.0, geometric=True)
        self.walkers: list[Walker] = []

    # -- conversions
    def _world(self, x: float) -> float:
        return self.near * (1.0 - x / self.span)

    def _sharp(self, w: float) -> float:
        return self.span * (1.0 - w / self.near)

    @staticmethod
    def _now(w: float, m: float) -> float:
        """World dioptres seen from a camera moved in by m."""
        if m == 0.0 or w == 0.0:
            return w
        return w / max(1.0 - m * w, MIN_GAP)

    # -- what the view and the truth read
    def subject_world(self, t: float) -> float:
        return self._world(self.subject.at(t))

    def subject_position(self, t: float) -> float:
        """The lens position where the subject is sharp at time t."""
        m = self.dolly.at(t)
        if m == 0.0:
            return self.subject.at(t)
        return self._sharp(self._now(self.subject_world(t), m))

    def layer_dioptres(self, t: float) -> list[float]:
        """Each layer's dioptres from the camera at t (the last is the subject)."""
        m = self.dolly.at(t)
        return [self._now(w, m) for w in self.fixed] + [self._now(self.subject_world(t), m)]

    def layer_scales(self, t: float) -> list[float]:
        """How much larger each layer looks at t than at the start."""
        m = self.dolly.at(t)
        out = [1.0 / max(1.0 - m * w, MIN_GAP) for w in self.fixed]
        w = self.subject_world(t)
        grow = 1.0 / max(1.0 - m * w, MIN_GAP)
        w0 = self.layers0[-1]
        if not self.legacy and w0 > 0:
            grow *= w / w0                      # nearer in the world: larger
        return out + [grow]

    def sharp_position(self, w: float) -> float:
        return self._sharp(w)

    def walkers_at(self, t: float) -> list[tuple[float, float, float]]:
        """(fraction across, dioptres now, scale since it set off) of each walker in view."""
        m = self.dolly.at(t)
        out = []
        for w in self.walkers:
            if w.t0 <= t <= w.t0 + w.seconds:
                f = (t - w.t0) / w.seconds
                start = self._now(w.dioptres, self.dolly.at(w.t0))
                now = self._now(w.dioptres, m)
                out.append((f, now, now / start if start > 0 else 1.0))
        self.walkers = [w for w in self.walkers if t <= w.t0 + w.seconds]
        return out

    @property
    def still(self) -> bool:
        """Nothing has moved (the legacy picture is drawn exactly as it always was)."""
        return (self.dolly.still and self.dolly.target == 0.0 and self.pan.still
                and self.pan.target == 0.0 and not self.walkers)

    # -- the script's actions
    def move_subject(self, t: float, steps: float, over: float = 0.0) -> None:
        """The subject moves to where it is sharp at ``steps`` (once every ramp has ended)."""
        m = self.dolly.target
        if m == 0.0:
            if not self.legacy and steps > self.span:
                raise SceneError(f"subject {steps:g}: beyond the far stop ({self.span:g}), "
                                 f"farther than infinity")
            self.subject.go(t, float(steps), over)
            return
        if steps >= self.span:
            raise SceneError(f"subject {steps:g}: at or beyond the far stop ({self.span:g}) "
                             f"after a dolly")
        w = self._world(steps)                          # dioptres from the camera then
        world = w / (1.0 + m * w)
        if world <= 0:
            raise SceneError(f"subject {steps:g}: the subject would be behind the camera's "
                             f"starting point")
        self.subject.go(t, self._sharp(world), over)

    def move_camera(self, t: float, factor: float, over: float = 0.0) -> None:
        """Dolly: the subject's picture grows by ``factor``; every layer gets as much nearer."""
        if not factor > 0:
            raise SceneError(f"dolly {factor:g}: the factor must be > 0")
        m = self.dolly.target
        w = self._now(self._world(self.subject.target), m)
        if w <= 0:
            raise SceneError(f"dolly {factor:g}: the subject is sharp at or beyond the far "
                             f"stop (at infinity): a dolly cannot change its size")
        s = 1.0 / w
        new_m = m + s * (1.0 - 1.0 / factor)
        worlds = self.fixed + [self._world(self.subject.target)]
        for i, lw in enumerate(worlds):
            if lw > 0 and 1.0 - new_m * lw < MIN_GAP:
                what = "the subject" if i == len(worlds) - 1 else f"layer {i}"
                raise SceneError(f"dolly {factor:g}: the camera would pass {what}")
        self.dolly.go(t, new_m, over)

    def turn(self, t: float, pixels: float, over: float = 0.0) -> None:
        self.pan.go(t, self.pan.target + pixels, over)

    def expose(self, t: float, factor: float, over: float = 0.0) -> None:
        if not factor > 0:
            raise SceneError(f"light {factor:g}: the factor must be > 0")
        self.light.go(t, self.light.target * factor, over)

    def walk(self, t: float, seconds: float) -> None:
        if not seconds > 0:
            raise SceneError(f"walk {seconds:g}: the crossing must last > 0 s")
        m = self.dolly.at(t)
        w_subject = max(self._now(self.subject_world(t), m), 0.0)
        w = max(w_subject / WALKER_RATIO, 0.3 * self.near)   # dioptres from the camera now
        world = w / (1.0 + m * w)
        self.walkers.append(Walker(t, float(seconds), world))
