"""What a drive request does when it reaches a moving lens: the probe's test.

It runs, queues, is dropped, or is refused with -110.  The camera is asked
with two requests outstanding at most (:class:`rig.probeport.Port`):

1. From a start some size-3 commands out from the near stop: the picture
   after one request, and after two sent apart (each once the motion before
   it has surely ended).
2. From the same start again, two requests sent at once: the second leaves
   as soon as the first call returns, while the lens still moves.
3. Where the lens ends says it: where two take it (the second ran: it was
   queued behind the first), or where one takes it (the second was lost).
   A -110 answer to the second says it was refused.

A camera whose drive call waits for the lens (Nikon) never has a request
reach a moving lens: its requests *run*.

The start is where one size-3 command changes the picture most, from the
sweep of the range when calibration measured one (:func:`course_from_sweep`;
the stops are reached by counted commands), or else from a traverse of the
range watched command by command (:func:`course_from_traverse`; the stops
are where the picture stops changing, which a picture without detail can
mistake).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp
import numpy as np

from .lens import FAR, NEAR, LensError
from .probefit import BusyData, Shot, SweepData, advance
from .probeport import Port, signature
from .simprofile import DriveSpec

__all__ = ["busy", "Course", "course_from_sweep", "course_from_traverse", "Motion", "watch",
           "motion", "home_by_picture", "home_by_count"]


# ------------------------------------------------------------------ motion


@dataclass(frozen=True)
class Motion:
    moved: bool
    ended_s: float | None     # after the call started, the motion was over by then ...
    going_s: float | None     # ... and still going then (the last frame that changed)


def watch(port: Port, since: float,
          before: np.ndarray | None = None) -> tuple[Motion, np.ndarray]:
    """Frames until the picture has stood still for ``still_s``: when the motion ended.

    ``since`` is when the command's call started, ``before`` the picture
    before it.  Stillness is judged across the whole window (its first frame
    against its last), so a slow change is not taken for rest.
    """
    s = port.s
    shots: list[tuple[Shot, np.ndarray]] = []
    while port.clock.now() < since + s.watch_s:
        shot = port.shot()
        shots.append((shot, signature(shot.data)))
        window = [fp for sh, fp in shots if sh.t0 >= shot.t0 - s.still_s]
        if (len(shots) >= 4 and shots[0][0].t0 <= shot.t0 - s.still_s
                and port.still(window[0], window[-1])):
            break
    final = np.mean([fp for _, fp in shots[-2:]], axis=0)
    changed = [i for i, (_, fp) in enumerate(shots) if not port.still(fp, final)]
    moved = bool(changed) or (before is not None and not port.still(before, final))
    if not moved:
        return Motion(False, None, None), final
    if not changed:          # over before the first frame
        return Motion(True, shots[0][0].t1 - since, None), final
    i = changed[-1]
    if i + 1 >= len(shots):  # still changing when the watch ended
        return Motion(True, None, shots[i][0].t0 - since), final
    return Motion(True, shots[i + 1][0].t1 - since, shots[i][0].t0 - since), final


def motion(port: Port) -> Motion | None:
    """How long a largest command moves the lens, watched frame by frame.

    Tightens the port's bound for that size to 1.5 times what was seen (the
    sighting is itself late by up to a frame).  None when the picture did
    not change either way (lens on MF, or a picture focus does not change).
    """
    big = max(port.lens.caps.sizes)
    for direction in (FAR, NEAR):
        before = port.rest()
        sent = port.send(big, direction)
        if sent.code:
            continue
        seen, _ = watch(port, sent.t0, before)
        if seen.moved and seen.ended_s is not None:
            port.bound[big] = 1.5 * seen.ended_s + 0.1
            port.forget()
            return seen
    return None


# ------------------------------------------------------------------ homing


def home_by_picture(port: Port, direction: int = NEAR,
                    trail: list[np.ndarray] | None = None) -> int:
    """Largest commands toward a stop until the picture stops changing; commands sent.

    Each command is sent once the one before has surely ended (a camera that
    drops requests would lose it otherwise).  ``trail``, if given, gets the
    picture before the first command and after each: a traverse of the range.
    """
    big = max(port.lens.caps.sizes)
    s = port.s
    pictures = [port.rest()]
    for count in range(1, s.max_commands + 1):
        port.send(big, direction)
        pictures.append(port.rest())
        recent = pictures[-1 - s.stop_still:]
        if len(recent) > s.stop_still and all(port.still(p, recent[-1]) for p in recent):
            for _ in range(s.overdrive):
                port.settle()
                port.send(big, direction)
            port.settle()
            if trail is not None:
                trail.extend(pictures)
            return count + s.overdrive
    raise LensError("could not find the stop: the picture kept changing. Keep the camera "
                    "and the scene still while probing")


def home_by_count(port: Port, count: int, direction: int = NEAR) -> None:
    """``count`` largest commands toward a stop, each after the last: the stop is truth."""
    big = max(port.lens.caps.sizes)
    for _ in range(count):
        port.settle()
        port.send(big, direction)
    port.settle()


# ------------------------------------------------------------------ where


@dataclass(frozen=True)
class Course:
    """How the test reaches its starts: a way home, then commands out from the near stop."""

    home: Callable[[], None]
    starts: list[int]         # commands out, best first
    how: str


def course_from_sweep(port: Port, sweep: SweepData, spec: DriveSpec, play: float,
                      tries: int) -> Course:
    """Starts where the sweep's pictures change most over one and two largest commands."""
    span = float(sweep.span)
    xs = np.asarray(sweep.positions)
    fps = [signature(data, tiles) for (_, data), tiles in zip(sweep.frames, sweep.tiles)]

    def at(x: float) -> int:
        return int(np.argmin(np.abs(xs - x)))

    scores = []
    for i, x in enumerate(xs):
        one = advance(x, spec, FAR, span)
        two = advance(one, spec, FAR, span)
        if two >= span - 1.0:
            break
        j, k = at(one), at(two)
        if j == i or k == j:
            continue
        scores.append((min(port.apart(fps[i], fps[j]), port.apart(fps[j], fps[k])), float(x)))
    scores.sort(reverse=True)
    starts = []
    for _, x in scores:
        out, at_x = 0, 0.0
        while True:
            nxt = advance(at_x, spec, FAR, span) - (play if out == 0 else 0.0)
            if abs(nxt - x) >= abs(at_x - x):
                break
            out, at_x = out + 1, max(nxt, 0.0)
        if out not in starts:
            starts.append(out)
        if len(starts) >= tries:
            break
    count = math.ceil(1.1 * span / min(spec.steps, spec.steps_far or spec.steps)) + 2
    return Course(lambda: home_by_count(port, count), starts or [0],
                  f"starts where the sweep's pictures change most; homing by {count} commands, "
                  "more than the range")


def course_from_traverse(port: Port, tries: int) -> tuple[Course, int]:
    """Starts from a traverse to the far stop and back, watched command by command."""
    home_by_picture(port, FAR)
    trail: list[np.ndarray] = []
    commands = home_by_picture(port, NEAR, trail)
    n = len(trail)
    change = []
    for j in range(0, n - 2):
        here, one, two = trail[n - 1 - j], trail[n - 2 - j], trail[n - 3 - j]
        change.append((min(port.apart(here, one), port.apart(one, two)), j))
    change.sort(reverse=True)
    starts = [j for c, j in change if c > 2.0 * port.noise][:tries]
    return Course(lambda: home_by_picture(port, NEAR), starts or [0],
                  f"starts from a traverse of {commands} commands; homing until the picture "
                  "stopped changing"), \
        commands


# ------------------------------------------------------------------ the test


def busy(port: Port, course: Course, motion_s: float | None) -> BusyData:
    """What a request does when it reaches a moving lens; see the module's docstring.

    ``motion_s`` is how long one largest command moves the lens (as measured):
    a second request that takes effect later than that did not reach a
    moving lens, and says nothing.
    """
    lens, s = port.lens, port.s
    if lens.caps.blocking:
        return BusyData("runs", evidence={"detail": "the drive call waits for the lens"},
                        most_outstanding=port.most)
    big = max(lens.caps.sizes)
    looks: list[dict] = []

    def out_to(count: int) -> None:
        course.home()
        for _ in range(count):
            port.settle()
            port.send(big, FAR)

    for out in course.starts[:s.busy_tries]:
        out_to(out)
        start = port.rest(3)
        port.send(big, FAR)
        one = port.rest(3)
        port.send(big, FAR)
        two = port.rest(3)
        d12, d01 = port.apart(one, two), port.apart(start, one)
        if d12 < 2.0 * port.noise or d01 < 2.0 * port.noise:
            looks.append({"from": out, "one_vs_two": round(d12 / port.noise, 2),
                          "verdict": "the picture barely changes here"})
            continue
        out_to(out)
        port.settle()
        first = port.send(big, FAR)
        second = port.send(big, FAR)      # at once: the first is still moving
        gap_ms = round(1000 * (second.t0 - first.t1), 1)
        if motion_s is not None and second.t1 - first.t1 >= motion_s:
            course.home()
            return BusyData(None, f"the drive calls ({1000 * (second.t1 - second.t0):.0f} ms) "
                                  f"take longer than a size-{big} motion "
                                  f"({1000 * motion_s:.0f} ms): a request never reaches a "
                                  "moving lens", {"looks": looks}, port.most)
        if second.code == gp.GP_ERROR_CAMERA_BUSY:
            port.settle()
            course.home()
            return BusyData("error", evidence={
                "detail": f"the second request was answered -110 (busy), sent {gap_ms:g} ms "
                          "after the first returned", "trials": len(looks) + 1,
                "course": course.how}, most_outstanding=port.most)
        seen, _ = watch(port, first.t0, start)
        end = port.rest(3)                 # once both have surely ended
        d1, d2 = port.apart(end, one), port.apart(end, two)
        kind = "queue" if d2 < d1 else "drop"
        looks.append({"from": out, "to_one": round(d1 / port.noise, 2),
                      "to_two": round(d2 / port.noise, 2),
                      "one_vs_two": round(d12 / port.noise, 2),
                      "second_after_ms": gap_ms,
                      "settled_after_ms": None if seen.ended_s is None
                      else round(1000 * seen.ended_s)})
        if min(d1, d2) * 4.0 >= max(d1, d2):
            continue                      # not clear: another start
        course.home()
        detail = ("the lens ended where two requests take it: the second ran after the first"
                  if kind == "queue" else
                  "the lens ended where one request takes it: the second was lost")
        return BusyData(kind, evidence={"detail": detail, "trials": len(looks),
                                        "looks": looks, "course": course.how},
                        most_outstanding=port.most)
    course.home()
    return BusyData(None, "the picture could not tell one request's end from two's "
                          "(too little change in the picture)",
                    {"looks": looks, "course": course.how}, port.most)
