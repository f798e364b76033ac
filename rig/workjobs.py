"""The worker's commands: the lens jobs the core asks for.

Each job is one method, found by the worker's dispatch table
(:data:`rig.worker.LensWorker.jobs`): a pull (:class:`~rig.sequencer.Move`,
with Q's way through the near stop when the position is uncertain), a jog,
a nudge, a homing on demand and autofocus.  After a pull the scene part
checks the arrival where the scene is still; then the lens takes up its play
toward the next pull while it waits.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from .autofocus import DEFAULT_ROI, AFResult, autofocus
from .clock import EMPTY
from .lens import Lens
from .planner import Plan, plan_move
from .sequencer import (Autofocus, Checked, Focused, Home, JogStart, JogStop, Move, Nudge,
                        Transition)
from .workparts import Stop, Wiring, interrupted, moved
from .workscene import Scenes

log = logging.getLogger("rig.worker")

__all__ = ["Commands"]


class Commands:
    """Pulls, jogs, nudges, homing and autofocus; the last autofocus is kept."""

    def __init__(self, wiring: Wiring, scenes: Scenes) -> None:
        self.w = wiring
        self.scenes = scenes
        self.last_af: AFResult | None = None
        self.af_count = 0

    # -- pulls
    def move(self, lens: Lens, job: Move) -> None:
        w = self.w
        tr, plan = job.transition, job.plan
        if job.home_first:
            tr, plan = self._through_stop(lens, job)
        w.observer.transition_started(tr, plan)
        plan = self._from_here(lens, plan)
        run = lens.execute(plan, tr.t0)
        checks = lens.caps.feedback == "absolute" or (job.look and self.scenes.scene is not None)
        if checks:
            # The lens has stopped: the core takes the next press while the
            # arrival is checked, and a job that comes cuts the check short
            # (between two camera calls), except where the check has just
            # moved the lens on something only its next look can confirm (a
            # probe either side of a sharp subject, a lost command made up
            # with large commands: rig.verify.check_arrival).
            moved(w, lens, checking=True)
        run.before_correction, run.after_correction = self.scenes.check(
            lens, tr.target, tr.start, job.look)
        source = "stop" if tr.from_index is None else f"point {tr.from_index + 1}"
        log.info(run.describe(plan, f"{tr.kind} {source} -> point {tr.to_index + 1}"))
        w.observer.transition_ended(tr, run, lens.position or 0.0, lens.uncertainty)
        busy = interrupted(w)
        if not checks:
            moved(w, lens)
        elif not busy():
            w.post(Checked(round(lens.position or 0), w.clock.now(), lens.trusted,
                           lens.uncertainty))
        if job.then is not None and not busy():
            lens.prepare(*job.then, stop=busy)   # the play, the next plan

    def _through_stop(self, lens: Lens, job: Move) -> tuple[Transition, Plan]:
        """Home into the near stop, then the move from there (Q while in doubt).

        The stop zeroes the position's uncertainty; the move to point 1
        starts once the lens is free, on a plan made from 0.
        """
        w = self.w
        tr, plan = job.transition, job.plan
        was = lens.uncertainty
        started = w.clock.now()
        lens.home()
        w.observer.homed(started, w.clock.now())
        log.info("back to point %d through the near stop (position was +-%.1f steps)",
                 tr.to_index + 1, was)
        plan = lens.plan_from_here(tr.target, plan.target_s, plan.easing)
        first = plan.commands[0].t if plan.commands else 0.0
        t0 = max(w.clock.now(), lens.free_at) + max(0.0, lens.lead - first)
        return replace(tr, start=0, t0=t0, duration=plan.duration_s), plan

    @staticmethod
    def _from_here(lens: Lens, plan: Plan) -> Plan:
        """The plan again from where the lens is, if a cut-short check moved it."""
        if lens.position is None or lens.model is None or round(lens.position) == plan.start:
            return plan
        return plan_move(round(lens.position), plan.target, plan.target_s, lens.model,
                         plan.easing)

    # -- the lens by hand
    def nudge(self, lens: Lens, job: Nudge) -> None:
        assert lens.position is not None
        lens.move_to(round(lens.position) + job.steps)
        moved(self.w, lens)

    def home(self, lens: Lens, job: Home) -> None:
        """Home, then back to where the lens was (on demand, or the position in doubt)."""
        w = self.w
        back = lens.position
        started = w.clock.now()
        lens.home()
        w.observer.homed(started, w.clock.now())
        if back is not None:
            lens.move_to(round(back))
        moved(w, lens)

    def autofocus(self, lens: Lens, job: Autofocus) -> None:
        # Focusing on something means the scene is changing: checks wait
        # until the next INFO into play finds the scene again.
        w = self.w
        self.scenes.forget()
        result = autofocus(lens, job.region or DEFAULT_ROI)
        self.last_af, self.af_count = result, self.af_count + 1
        w.observer.focused(result, lens.uncertainty)
        w.post(Focused(result.position, result.ok, result.reason, w.clock.now(),
                       lens.trusted, lens.uncertainty))

    def jog(self, lens: Lens, job: JogStart) -> None:
        """Drive one way command after command until told to stop.

        Jobs that come meanwhile (other than the jog's own) are put back
        for after it; the rig stopping ends the jog.
        """
        w = self.w
        assert lens.model is not None
        size, direction = lens.model.nearest_size(job.size), job.direction
        later: list[Any] = []
        while True:
            msg = w.inbox.get(until=lens.free_at)
            if msg is EMPTY:
                step = lens.model.drive(size).steps
                pos = lens.position or 0.0
                if 0 <= pos + direction * step <= lens.model.steps:
                    lens.send(size, direction)
                elif size != 1 and 0 <= pos + direction <= lens.model.steps:
                    size = 1
                else:
                    msg = w.inbox.get()  # at the end of the range: wait for release
            if isinstance(msg, JogStop):
                break
            if isinstance(msg, JogStart):
                size, direction = lens.model.nearest_size(msg.size), msg.direction
            elif isinstance(msg, Stop):
                later.append(msg)
                break
            elif msg is not EMPTY:
                later.append(msg)
        lens.wait_free()
        moved(w, lens)
        for msg in later:
            w.inbox.put(msg)
