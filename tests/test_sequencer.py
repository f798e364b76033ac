"""The functional core: events and times in, state and effects out."""

import pytest

from rig.config import load_config
from rig.planner import Drive, LensModel
from rig.sequencer import (Activity, AddPoint, Arm, Autofocus, Home, Rehome, SetScene, Do, Edge, Fault, Focus, GoTo, Hold,
                           Jog, JogStart, JogStop, Mode, Move, Moved, Nudge, Point, Ready,
                           RemovePoint, SaveSequence, Screen, SetDuration, SetEasing, SetMode,
                           SetRegion, Skip, State, Tick, Turn, achievable, initial_state,
                           next_deadline, refusal, step)

MODEL = LensModel(407, (Drive(1, 1.0, 0.06, 0.045), Drive(2, 4.0, 0.11, 0.085),
                        Drive(3, 26.0, 0.30, 0.28)), latency=0.03)


def first_sent(move):
    """When the lens worker sends the move's first command (a latency before it acts)."""
    return move.transition.t0 + move.plan.commands[0].t - MODEL.latency


class Rig:
    """Feeds events to the core the way the shell does, with ticks in between."""

    def __init__(self, points=(), mode=None):
        config = load_config()
        self.state = initial_state(tuple(points), config.ui, config.bindings)
        self.t = 0.0
        self.effects = []
        self.feed(Ready(MODEL, 0, 0.0))
        if self.state.transition:
            self.finish()
        if mode is not None:
            self.state = State(**{**self.state.__dict__, "mode": mode})

    def feed(self, event):
        self.state, effects = step(self.state, event)
        self.effects += effects
        return effects

    def advance(self, seconds):
        end = self.t + seconds
        while True:
            deadline = next_deadline(self.state)
            if deadline is None or deadline > end:
                break
            self.t = max(self.t, deadline)
            self.feed(Tick(self.t))
        self.t = end

    def press(self, name):
        """Function ``name`` (as the gesture layer reports it)."""
        self.advance(0.15)  # a thumb needs this long between presses
        return self.feed(Do(name, self.t))

    def button(self, name, hold=0.08):
        """Press physical button ``name`` for ``hold`` seconds (default gestures)."""
        self.advance(0.15)
        effects = self.feed(Edge(name, True, self.t))
        self.advance(hold)
        return effects + self.feed(Edge(name, False, self.t))

    def finish(self):
        tr = self.state.transition
        self.feed(Moved(tr.target, self.t))

    def moves(self):
        return [e for e in self.effects if isinstance(e, Move)]


def test_boots_into_play_and_goes_to_point_1():
    state = initial_state((Point(120), Point(300, 2.0)))
    assert state.mode == Mode.PLAY and state.activity == Activity.CONNECTING
    state, effects = step(state, Ready(MODEL, 0, 5.0))
    (move,) = effects
    assert move.transition.kind == "asap" and move.transition.to_index == 0
    assert move.transition.from_index is None and move.plan.target == 120


def test_info_cycles_the_three_modes():
    rig = Rig()
    seen = []
    for _ in range(4):
        rig.press("info")
        seen.append(rig.state.mode)
    assert seen == [Mode.INACTIVE, Mode.EDIT, Mode.PLAY, Mode.INACTIVE]


def test_edit_set_q_trash():
    rig = Rig(mode=Mode.EDIT)
    rig.feed(Moved(100, rig.t))
    rig.press("set")                       # no points: creates point 1
    assert rig.state.points == (Point(100),)
    rig.feed(Moved(250, rig.t))
    rig.press("q")                         # adds point 2 after the current one
    assert rig.state.points == (Point(100), Point(250)) and rig.state.index == 1
    rig.feed(Moved(200, rig.t))
    rig.press("set")                       # stores the lens position in point 2
    assert rig.state.points[1].position == 200
    rig.press("trash")
    assert rig.state.points == (Point(100),) and rig.state.index == 0
    saves = [e for e in rig.effects if isinstance(e, SaveSequence)]
    assert len(saves) == 4 and saves[-1].points == (Point(100),)
    assert rig.state.highlight is not None


def test_up_down_step_from_what_the_lens_can_do():
    rig = Rig([Point(0), Point(300)], mode=Mode.EDIT)
    rig.state = State(**{**rig.state.__dict__, "index": 1})
    fastest = achievable(rig.state, 1)
    rig.press("up")
    target = rig.state.points[1].duration
    assert target == pytest.approx((int(fastest * 10) + 1) / 10)
    assert rig.state.highlight.what == "duration"
    for _ in range(3):
        rig.press("up")
    assert rig.state.points[1].duration == pytest.approx(target + 0.3)
    assert achievable(rig.state, 1) == pytest.approx(target + 0.3, abs=1e-3)
    for _ in range(3):
        rig.press("down")
    assert rig.state.points[1].duration == pytest.approx(target)
    rig.press("down")  # below the fastest: back to "as fast as possible"
    assert rig.state.points[1].duration == 0
    assert achievable(rig.state, 1) == pytest.approx(fastest)  # never below the fastest


def test_holding_up_repeats():
    rig = Rig([Point(0), Point(300)], mode=Mode.EDIT)
    rig.state = State(**{**rig.state.__dict__, "index": 1})
    rig.button("up", hold=0.5 + 0.12 * 5 + 0.01)
    assert rig.state.points[1].duration == pytest.approx(
        (int(achievable(State(**{**rig.state.__dict__, "points": (Point(0), Point(300))}), 1)
             * 10) + 7) / 10)


def test_left_right_navigate_with_fastest_moves_and_loop():
    rig = Rig([Point(10), Point(200), Point(300)], mode=Mode.EDIT)
    rig.press("left")
    move = rig.moves()[-1]
    assert move.transition.kind == "asap" and move.transition.to_index == 2  # looped
    assert move.plan.duration_s == move.plan.fastest_s
    rig.finish()
    assert rig.state.index == 2 and rig.state.position == 300
    rig.press("right")
    assert rig.moves()[-1].transition.to_index == 0


def test_holding_left_right_jogs_fine_then_coarse():
    rig = Rig([Point(10)], mode=Mode.EDIT)
    rig.advance(0.01)
    rig.feed(Edge("right", True, rig.t))
    rig.advance(0.7)
    assert JogStart(1, 1) in rig.effects
    rig.advance(1.3)
    assert JogStart(1, 3) in rig.effects
    before = len(rig.moves())
    rig.feed(Edge("right", False, rig.t))
    assert rig.effects[-1] == JogStop()
    assert len(rig.moves()) == before  # a hold is not a press
    rig.feed(Moved(150, rig.t))
    assert rig.state.position == 150 and rig.state.activity == Activity.IDLE


def test_a_jog_held_while_busy_does_nothing_even_after_the_lens_is_free():
    rig = Rig([Point(10), Point(200)], mode=Mode.EDIT)
    rig.press("right")                        # a move to point 2 starts
    rig.feed(Hold("jog_near", 1, rig.t))      # held while it runs
    rig.finish()
    rig.feed(Hold("jog_near", 2, rig.t))
    rig.feed(Hold("jog_near", 0, rig.t))
    assert not [e for e in rig.effects if isinstance(e, (JogStart, JogStop))]
    assert rig.state.activity == Activity.IDLE and rig.state.jogging == 0


def test_play_set_runs_the_transition_with_its_duration():
    rig = Rig([Point(100), Point(300, 3.0), Point(50, 0.0)])
    assert rig.state.mode == Mode.PLAY and rig.state.index == 0
    rig.press("set")
    move = rig.moves()[-1]
    assert move.transition.kind == "play" and move.transition.to_index == 1
    assert move.plan.duration_s == pytest.approx(3.0)
    # The first command goes out 2 ms after the press (the lead) and takes
    # effect a latency later, at the plan's first command time on the curve;
    # unless the plan wants it later than that: the curve never starts before
    # the press, so the duration counts from the thumb.
    assert first_sent(move) == pytest.approx(rig.t + max(0.002, move.plan.commands[0].t
                                                           - MODEL.latency))
    assert move.transition.t0 >= rig.t
    assert move.transition.from_index == 0
    rig.press("set")  # mid-pull: ignored
    assert len(rig.moves()) == 2
    rig.finish()
    rig.press("q")
    assert rig.moves()[-1].transition.kind == "asap"
    assert rig.moves()[-1].transition.to_index == 0


def test_play_set_on_the_last_point_does_nothing():
    rig = Rig([Point(100)])
    before = len(rig.moves())
    rig.press("set")
    assert len(rig.moves()) == before


def test_inactive_ignores_everything_but_info_and_rate():
    rig = Rig([Point(100), Point(300)], mode=Mode.INACTIVE)
    before = len(rig.effects)
    for name in ("set", "q", "trash", "up", "down", "left", "right", "af"):
        rig.press(name)
    assert rig.effects[before:] == [] and rig.state.points == (Point(100), Point(300))
    rig.press("rate")
    assert rig.effects[-1] == Screen(False) and not rig.state.screen_on


def test_af_only_in_edit():
    rig = Rig(mode=Mode.EDIT)
    rig.press("af")
    assert Autofocus() in rig.effects and rig.state.activity == Activity.FOCUSING


def test_af_looks_where_the_region_was_set():
    rig = Rig(mode=Mode.EDIT)
    rig.feed(SetRegion((0.1, 0.2, 0.3, 0.25), rig.t))
    rig.press("af")
    assert rig.effects[-1] == Autofocus((0.1, 0.2, 0.3, 0.25))


def test_a_bouncing_thumb_advances_once_and_at_the_first_edge():
    rig = Rig([Point(0), Point(100), Point(200)])
    rig.advance(0.01)
    t = rig.t
    for i in range(4):  # edges within 4 ms
        rig.feed(Edge("thumb", True, t + i * 0.001))
        rig.feed(Edge("thumb", False, t + i * 0.001 + 0.0005))
    rig.feed(Edge("thumb", True, t + 0.004))   # and then it stays closed
    rig.advance(0.3)
    plays = [m for m in rig.moves() if m.transition.kind == "play"]
    assert len(plays) == 1
    assert first_sent(plays[0]) == pytest.approx(t + 0.002)   # at the first edge


def test_help_opens_with_a_and_b_and_any_button_closes_it_without_acting():
    rig = Rig([Point(0), Point(100)])
    rig.feed(Edge("a", True, rig.t))
    rig.advance(0.05)
    rig.feed(Edge("b", True, rig.t))
    rig.advance(0.1)
    rig.feed(Edge("b", False, rig.t))
    rig.feed(Edge("a", False, rig.t))
    assert rig.state.help_since is not None and rig.state.mode == Mode.PLAY
    rig.button("thumb")                      # closes the help: no transition
    assert rig.state.help_since is None and not [m for m in rig.moves()
                                                 if m.transition.kind == "play"]
    rig.button("thumb")
    assert rig.moves()[-1].transition.kind == "play"


def test_any_button_skips_learning_the_scene():
    rig = Rig([Point(0), Point(100)])
    rig.state = State(**{**rig.state.__dict__, "activity": Activity.LEARNING})
    effects = rig.button("b", hold=1.0)      # a long press of b: not TRASH, only a skip
    assert effects == [Skip()] and len(rig.state.points) == 2


def test_encoder_nudges_one_at_a_time_and_adds_up_the_rest():
    rig = Rig(mode=Mode.EDIT)
    rig.feed(Turn("focus", 1, rig.t))
    for _ in range(9):
        rig.feed(Turn("focus", 1, rig.t))
    assert [e for e in rig.effects if isinstance(e, Nudge)] == [Nudge(1)]
    rig.feed(Moved(1, rig.t))
    assert rig.effects[-1] == Nudge(9)
    rig.feed(Moved(10, rig.t))
    assert rig.state.activity == Activity.IDLE and rig.state.position == 10


def test_ease_switches_the_easing_and_rate_the_screen():
    rig = Rig([Point(0), Point(300, 4.0)], mode=Mode.EDIT)
    rig.state = State(**{**rig.state.__dict__, "index": 1})
    rig.press("ease")
    assert rig.state.points[1].easing == "ease" and rig.state.screen_on
    assert rig.state.highlight.what == "easing"
    assert SaveSequence(rig.state.points) in rig.effects
    rig.press("ease")
    assert rig.state.points[1].easing == "linear"
    rig.button("a", hold=0.7)               # A held: RATE
    assert not rig.state.screen_on and rig.effects[-1] == Screen(False)
    assert rig.state.mode == Mode.EDIT      # ... and not INFO


def test_play_uses_the_points_easing_and_asap_moves_do_not():
    rig = Rig([Point(0), Point(300, 6.0, "ease")])
    rig.press("set")
    move = rig.moves()[-1]
    assert move.plan.easing == "ease" and move.plan.duration_s == pytest.approx(6.0)
    rig.finish()
    rig.press("q")
    assert rig.moves()[-1].plan.easing == "linear"


def test_new_points_take_the_configured_easing():
    from dataclasses import replace
    rig = Rig(mode=Mode.EDIT)
    rig.state = replace(rig.state, settings=replace(rig.state.settings, easing="ease"))
    rig.feed(Moved(40, rig.t))
    rig.press("set")
    rig.feed(Moved(90, rig.t))
    rig.press("q")
    assert [p.easing for p in rig.state.points] == ["ease", "ease"]


# ------------------------------------------------------------ web edits


def test_web_edits_do_what_the_buttons_do():
    rig = Rig(mode=Mode.EDIT)
    rig.feed(Moved(100, rig.t))
    rig.feed(AddPoint(rig.t))                   # like Q with no points: point 1
    rig.feed(Moved(250, rig.t))
    rig.feed(AddPoint(rig.t))
    rig.feed(Moved(50, rig.t))
    rig.feed(AddPoint(rig.t))
    assert [p.position for p in rig.state.points] == [100, 250, 50] and rig.state.index == 2
    rig.feed(SetEasing(1, "ease", rig.t))
    assert rig.state.points[1].easing == "ease"
    rig.feed(SetDuration(1, 4.0, rig.t))
    assert rig.state.points[1].duration == 4.0
    assert achievable(rig.state, 1) == pytest.approx(4.0, abs=1e-3)
    rig.feed(RemovePoint(0, rig.t))             # before the current: the current follows
    assert [p.position for p in rig.state.points] == [250, 50] and rig.state.index == 1
    saves = [e for e in rig.effects if isinstance(e, SaveSequence)]
    assert len(saves) == 6 and saves[-1].points == rig.state.points


def test_a_duration_below_what_the_lens_can_do_is_fastest_as_down_makes_it():
    rig = Rig([Point(0), Point(300)], mode=Mode.EDIT)
    fastest = achievable(rig.state, 1)
    rig.feed(SetDuration(1, fastest / 2, rig.t))
    assert rig.state.points[1].duration == 0.0
    assert achievable(rig.state, 1) == pytest.approx(fastest)
    rig.feed(SetDuration(1, fastest + 0.5, rig.t))
    assert rig.state.points[1].duration == pytest.approx(fastest + 0.5)


def test_go_to_a_point_and_jog_move_the_lens():
    rig = Rig([Point(10), Point(300), Point(200)], mode=Mode.EDIT)
    (move,) = rig.feed(GoTo(2, rig.t))
    assert move.transition.kind == "asap" and move.transition.to_index == 2
    assert refusal(rig.state, GoTo(0, rig.t)).startswith("the lens is busy")
    rig.finish()
    assert rig.state.index == 2 and rig.state.position == 200
    assert rig.feed(Jog(-7, rig.t)) == [Nudge(-7)]
    rig.feed(Jog(3, rig.t))                     # while the first is in flight: added up
    assert rig.feed(Moved(193, rig.t)) == [Nudge(3)]
    assert rig.feed(Focus(rig.t)) == []         # still jogging: busy
    rig.feed(Moved(196, rig.t))
    assert rig.feed(Focus(rig.t)) == [Autofocus(None)]


def test_set_mode_enters_any_mode_as_info_would():
    rig = Rig([Point(10), Point(300)])
    assert rig.state.mode == Mode.PLAY
    rig.feed(SetMode(Mode.EDIT, rig.t))
    assert rig.state.mode == Mode.EDIT
    rig.feed(SetMode(Mode.EDIT, rig.t))         # already there: nothing happens
    assert rig.state.mode == Mode.EDIT
    rig.feed(SetMode(Mode.INACTIVE, rig.t))
    assert rig.state.mode == Mode.INACTIVE


@pytest.mark.parametrize("event, why", [
    (AddPoint(0.0), "switch to edit mode first"),
    (GoTo(0, 0.0), "switch to edit mode first"),
    (Focus(0.0), "switch to edit mode first"),
])
def test_web_edits_in_play_are_refused_and_change_nothing(event, why):
    rig = Rig([Point(10), Point(300)])
    before = rig.state
    assert refusal(before, event).startswith(why)
    assert rig.feed(event) == []
    assert rig.state.points == before.points and rig.state.mode == before.mode


@pytest.mark.parametrize("event, why", [
    (RemovePoint(5, 0.0), "there is no point 6: the sequence has 2 points"),
    (SetDuration(0, 2.0, 0.0), "point 1 has no transition"),
    (SetEasing(-1, "ease", 0.0), "there is no point 0"),
    (GoTo(2, 0.0), "there is no point 3"),
])
def test_out_of_range_web_edits_are_refused(event, why):
    rig = Rig([Point(10), Point(300)], mode=Mode.EDIT)
    before = rig.state
    assert refusal(before, event).startswith(why)
    effects = rig.feed(event)
    assert effects == [] and rig.state.points == before.points
    assert rig.state.highlight.text == "refused"


def test_a_jog_ended_by_a_lost_camera_does_not_go_coarse():
    """Found by the property test (tests/test_sequencer_properties.py), now and then."""
    rig = Rig([Point(10)], mode=Mode.EDIT)
    rig.advance(0.15)
    rig.feed(Edge("left", True, rig.t))
    rig.advance(0.7)
    assert rig.effects[-1] == JogStart(-1, 1)
    rig.feed(Fault("camera lost", rig.t))
    before = len(rig.effects)
    rig.advance(2.0)                           # past coarse_time, still held
    assert rig.effects[before:] == [] and rig.state.activity == Activity.FAULT


# ---------------------------------------------------------- the scene (issue 12)


def test_a_moving_scene_enters_play_at_once_and_its_pulls_never_look():
    rig = Rig([Point(10), Point(300, 2.0)])
    assert rig.state.scene == "moving"
    rig.press("info")
    rig.press("info")
    rig.press("info")                           # play again: nothing to learn
    assert rig.state.mode == Mode.PLAY and rig.state.activity == Activity.IDLE
    assert not [e for e in rig.effects if isinstance(e, Arm)]
    (move,) = rig.press("set")
    assert not move.look and not move.home_first


def test_the_scene_switches_from_the_buttons_and_still_learns_in_play():
    rig = Rig([Point(10), Point(300, 2.0)])
    rig.feed(Edge("a", True, rig.t))            # a+right: the scene function
    rig.advance(0.05)
    effects = rig.feed(Edge("right", True, rig.t))
    rig.advance(0.1)
    rig.feed(Edge("right", False, rig.t))
    rig.feed(Edge("a", False, rig.t))
    assert rig.state.scene == "still" and rig.state.highlight.text == "scene still"
    assert effects == [Arm(300)]                # in play: the scene is learnt once free
    assert rig.state.activity == Activity.LEARNING
    rig.feed(Moved(10, rig.t))
    (move,) = rig.press("set")
    assert move.look                            # still: the arrival is checked
    rig.finish()
    rig.press("scene")
    assert rig.state.scene == "moving"
    (move,) = rig.press("q")
    assert not move.look


def test_the_scene_switches_from_the_web_and_a_bad_one_is_refused():
    rig = Rig([Point(10), Point(300)])
    assert refusal(rig.state, SetScene("dolly", 0.0)) == \
        "scene must be one of moving, still, got 'dolly'"
    assert rig.feed(SetScene("dolly", rig.t)) == [] and rig.state.scene == "moving"
    rig.feed(SetScene("still", rig.t))
    assert rig.state.scene == "still"


def _uncertain(rig, sigma):
    rig.state = State(**{**rig.state.__dict__, "uncertainty": sigma})


def test_q_in_play_goes_through_the_stop_only_when_the_position_is_uncertain():
    rig = Rig([Point(10), Point(300, 2.0)])
    rig.press("set")
    rig.finish()
    _uncertain(rig, 3.9)                        # within uncertain_steps (4): straight back
    (move,) = rig.press("q")
    assert not move.home_first and move.transition.start == 300
    rig.finish()
    rig.press("set")
    rig.finish()
    _uncertain(rig, 7.0)
    (move,) = rig.press("q")
    assert move.home_first and move.transition.start == 0 and move.plan.start == 0
    assert move.transition.target == 10 and move.transition.kind == "asap"
    rig.finish()
    _uncertain(rig, 7.0)
    (move,) = rig.press("set")                  # a pull never homes: only Q, between takes
    assert not move.home_first


def test_rehome_false_never_goes_through_the_stop():
    from dataclasses import replace as dc_replace
    rig = Rig([Point(10), Point(300, 2.0)])
    rig.state = dc_replace(rig.state, settings=dc_replace(rig.state.settings, rehome=False))
    rig.press("set")
    rig.finish()
    _uncertain(rig, 50.0)
    (move,) = rig.press("q")
    assert not move.home_first


def test_home_on_demand_from_a_gesture_or_the_web_once_the_lens_is_free():
    rig = Rig([Point(10), Point(300, 2.0)])
    rig.press("set")
    assert rig.press("home") == [] and rig.state.highlight.text == "wait"   # mid-pull
    assert refusal(rig.state, Rehome(rig.t)).startswith("the lens is busy")
    rig.finish()
    assert rig.press("home") == [Home()] and rig.state.activity == Activity.HOMING
    rig.feed(Moved(300, rig.t, uncertainty=0.0))
    assert rig.state.activity == Activity.IDLE and rig.state.index == 1
    assert rig.feed(Rehome(rig.t)) == [Home()]
