"""The core under random presses, holds, encoder turns, time and camera events (hypothesis).

A stateful test: hypothesis drives :func:`rig.sequencer.step` with any order
of button presses and releases (bounces and holds included, because time
advances by any amount between them), encoder turns, the lens finishing
what it was doing, the camera going away and coming back.  A small stand-in
for the lens worker answers drive commands the way ``rig.worker`` does
(``Moved`` after a move, jog or nudge; ``Focused`` after AF; ``Ready``
after a reconnection).  After every step:

- the mode is one of the three modes;
- the index is within the points (0 when there are none);
- no duration the rig runs is below what the lens can do, and a duration
  the operator sets is either 0 ("as fast as possible") or achievable;
- no drive command goes out while the lens is busy with another, or while
  the camera is away (a jog that goes from fine to coarse is one command
  to the worker's running jog, as ``LensWorker._jog`` takes it);
- every sequence the core asks to save loads back equal.
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rig.config import load_config
from rig.controls import BUTTONS
from rig.planner import Drive, LensModel, plan_move
from rig.sequencer import (ENCODERS, Activity, Arm, Autofocus, Checked, Edge, Fault, Focused,
                           Home, JogStart, JogStop, Mode, Move, Moved, Notice, Nudge, Point,
                           Ready, SaveSequence, SetRegion, Skip, Tick, Turn, initial_state,
                           next_deadline, step)
from rig.store import Store

MODEL = LensModel(407, (Drive(1, 1.0, 0.06, 0.045), Drive(2, 4.0, 0.11, 0.085),
                        Drive(3, 26.0, 0.30, 0.28)), latency=0.03)
DRIVE_JOBS = (Move, JogStart, Nudge, Home, Arm, Autofocus)
CONFIG = load_config()          # the default buttons and gestures
STATE_DIR = Path(tempfile.mkdtemp(prefix="rig-properties-"))

points = st.lists(st.builds(Point, st.integers(0, MODEL.steps),
                            st.sampled_from([0.0, 0.5, 1.0, 2.5, 10.0]),
                            st.sampled_from(["linear", "ease"])), max_size=5)


class Core(RuleBasedStateMachine):
    """The core, a stand-in lens worker, and the checks."""

    @initialize(saved=points, lens_at=st.integers(0, MODEL.steps))
    def boot(self, saved, lens_at):
        self.t = 0.0
        self.state = initial_state(tuple(saved), CONFIG.ui, CONFIG.bindings)
        self.lens_at = lens_at           # where the stand-in lens is
        self.job = None                  # the drive command the lens is busy with
        self.jog_stopped = False
        self.camera = True               # False between a Fault and the next Ready
        self.held: set[str] = set()
        self.checking = False            # the worker checks an arrival (Moved(checking=True))
        self.feed(Ready(MODEL, 0, self.t))   # homed: on the near stop

    # -- feeding the core, and what comes out
    def feed(self, event):
        before = self.state
        self.state, effects = step(self.state, event)
        for effect in effects:
            self.take(effect)
        self.check_durations(before.points, self.state.points)

    def check_durations(self, old, new):
        """A duration the operator changed is 0 (as fast as possible) or achievable."""
        if len(old) != len(new):
            return
        for i in range(1, len(new)):
            a, b = new[i - 1], new[i]
            if b.duration != old[i].duration and b.duration > 0:
                fastest = plan_move(a.position, b.position, 0.0, MODEL).fastest_s
                assert b.duration >= fastest - 1e-9, (i, b.duration, fastest)

    def take(self, effect):
        if isinstance(effect, JogStart) and isinstance(self.job, JogStart) \
                and not self.jog_stopped:
            self.job = effect            # fine to coarse: the running jog changes size
            return
        if isinstance(effect, DRIVE_JOBS):
            assert self.camera, f"{effect} while the camera is away"
            assert self.job is None, f"{effect} while the lens is busy with {self.job}"
            self.job, self.jog_stopped = effect, False
            self.checking = False        # a job cuts the check short: no Checked comes
        if isinstance(effect, Move):
            plan = effect.plan
            fastest = plan_move(effect.transition.start, effect.transition.target, 0.0,
                                MODEL).duration_s
            assert plan.duration_s >= fastest - 1e-9, (plan.duration_s, fastest)
            assert effect.transition.duration == plan.duration_s
        if isinstance(effect, JogStop) and isinstance(self.job, JogStart):
            self.jog_stopped = True
        if isinstance(effect, SaveSequence):
            store = Store(STATE_DIR)
            store.save_sequence(effect.points, "lens")
            assert Store(STATE_DIR).load_sequence() == effect.points

    def advance(self, seconds):
        end = self.t + seconds
        while (deadline := next_deadline(self.state)) is not None and deadline <= end:
            self.t = max(self.t, deadline)
            self.feed(Tick(self.t))
        self.t = end

    # -- the operator: a contact closes or opens (chords and bounces included)
    @rule(name=st.sampled_from(BUTTONS), wait=st.sampled_from([0.0, 0.002, 0.05, 0.3, 0.7]))
    def press(self, name, wait):
        self.advance(wait)
        down = name not in self.held
        (self.held.add if down else self.held.discard)(name)
        self.feed(Edge(name, down, self.t))

    @rule(wait=st.sampled_from([0.001, 0.1, 0.7, 2.0, 5.0]))
    def time_passes(self, wait):
        self.advance(wait)

    @rule(detents=st.integers(-12, 12).filter(bool), name=st.sampled_from(ENCODERS))
    def turn(self, name, detents):
        self.feed(Turn(name, detents, self.t))

    @rule(region=st.one_of(st.none(), st.tuples(*[st.floats(0, 0.5)] * 4)))
    def set_region(self, region):
        self.feed(SetRegion(region, self.t))

    # -- the lens and the camera
    @precondition(lambda self: self.job is not None and self.camera
                  and (not isinstance(self.job, JogStart) or self.jog_stopped))
    @rule(ok=st.booleans(), trusted=st.booleans(), slip=st.integers(-3, 3),
          check=st.booleans())
    def lens_done(self, ok, trusted, slip, check):
        job, self.job = self.job, None
        if isinstance(job, Move):
            self.lens_at = job.transition.target
        elif isinstance(job, Nudge):
            self.lens_at = min(MODEL.steps, max(0, self.lens_at + job.steps))
        elif isinstance(job, JogStart):
            self.lens_at = min(MODEL.steps, max(0, self.lens_at + 40 * job.direction))
        if isinstance(job, Autofocus):
            self.lens_at = min(MODEL.steps, max(0, self.lens_at + slip * 20))
            self.feed(Focused(self.lens_at, ok, "" if ok else "no contrast", self.t, trusted))
        elif isinstance(job, Move) and check:
            # The lens has stopped; the worker checks where it landed meanwhile.
            self.checking = True
            self.feed(Moved(self.lens_at, self.t, trusted, checking=True))
        else:
            self.feed(Moved(self.lens_at, self.t, trusted))

    @precondition(lambda self: self.checking and self.camera)
    @rule(trusted=st.booleans(), off=st.integers(-2, 2))
    def check_done(self, trusted, off):
        self.checking = False
        self.lens_at = min(MODEL.steps, max(0, self.lens_at + off))
        self.feed(Checked(self.lens_at, self.t, trusted))

    @precondition(lambda self: self.camera)
    @rule()
    def camera_lost(self):
        self.camera, self.job, self.checking = False, None, False   # the session ends
        self.feed(Fault("camera lost", self.t))

    @precondition(lambda self: not self.camera)
    @rule()
    def camera_back(self):
        self.camera = True
        self.feed(Ready(MODEL, 0, self.t))

    @rule(text=st.sampled_from(["live view turned on", "restored from backup"]))
    def notice(self, text):
        self.feed(Notice(text, self.t))

    # -- what always holds
    @invariant()
    def mode_is_valid(self):
        assert isinstance(self.state.mode, Mode)
        assert isinstance(self.state.activity, Activity)

    @invariant()
    def index_in_range(self):
        s = self.state
        assert 0 <= s.index < max(1, len(s.points))

    @invariant()
    def positions_on_the_lens(self):
        s = self.state
        assert all(0 <= p.position <= MODEL.steps for p in s.points)
        assert s.position is None or 0 <= s.position <= MODEL.steps


Core.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None,
                                  derandomize=True, database=None,
                                  suppress_health_check=[HealthCheck.too_slow])
TestCore = Core.TestCase


def test_skip_is_not_a_drive_command():
    """(Skip and JogStop end what runs; they never start the motor.)"""
    assert not issubclass(Skip, DRIVE_JOBS) and not issubclass(JogStop, DRIVE_JOBS)
