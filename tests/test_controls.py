"""The gesture layer: button edges and time in, functions out (virtual time)."""

import pytest

from rig.config import load_config
from rig.controls import (BUTTONS, Bindings, BindingError, Do, Edge, Hold, Keys, Timing, Touch,
                          describe, make_bindings, next_deadline, parse_gesture, step)

TIMING = Timing(bounce_time=0.03, hold_time=0.6, coarse_time=1.8, repeat_delay=0.5,
                repeat_time=0.12)
DEFAULT = load_config().bindings


class Pad:
    """The gesture layer fed the way the core feeds it: edges, and ticks at its deadlines."""

    def __init__(self, bindings=DEFAULT, capture=False):
        self.keys = Keys(bindings)
        self.t = 0.0
        self.out = []
        self.capture = capture

    def _feed(self, event):
        self.keys, out = step(self.keys, event, TIMING, capture=self.capture)
        self.out += out

    def until(self, t):
        while True:
            deadline = next_deadline(self.keys, TIMING)
            if deadline is None or deadline > t:
                break
            self.t = max(self.t, deadline)
            self._feed(Tick(self.t))
        self.t = t

    def edge(self, button, down, at=None):
        self.until(self.t if at is None else at)
        self._feed(Edge(button, down, self.t))

    def press(self, button, hold=0.08, gap=0.2):
        self.edge(button, True, self.t + gap)
        self.edge(button, False, self.t + hold)

    def functions(self):
        return [(o.function, round(o.t, 6)) for o in self.out if isinstance(o, Do)]


class Tick:
    def __init__(self, t):
        self.t = t


def test_a_button_with_only_a_press_acts_on_the_press_edge():
    pad = Pad()
    pad.edge("thumb", True, 1.0)
    assert pad.out == [Touch("thumb", 1.0), Do("set", 1.0)]
    pad.edge("thumb", False, 2.0)
    assert len(pad.out) == 2                       # the release does nothing


def test_a_button_with_a_long_press_acts_on_release_or_after_hold_time():
    pad = Pad()
    pad.press("b", hold=0.3)                       # short: Q, on release
    assert pad.functions() == [("q", pytest.approx(0.5))]
    pad.edge("b", True, 1.0)
    pad.until(1.59)
    assert pad.functions()[-1][0] == "q"           # not yet
    pad.until(1.61)
    assert pad.functions()[-1] == ("trash", 1.6)   # held hold_time: TRASH, once
    pad.edge("b", False, 3.0)
    assert [f for f, _ in pad.functions()] == ["q", "trash"]


def test_chords_in_either_order_and_not_after_a_long_press():
    pad = Pad()
    pad.edge("a", True, 1.0)
    pad.edge("b", True, 1.05)
    pad.edge("a", False, 1.2)
    pad.edge("b", False, 1.25)
    pad.edge("b", True, 2.0)
    pad.edge("centre", True, 2.1)
    pad.edge("b", False, 2.2)
    pad.edge("centre", False, 2.3)
    assert pad.functions() == [("help", 1.05), ("ease", 2.1)]
    pad.edge("a", True, 3.0)
    pad.until(3.7)                                 # A's long press (RATE) acted
    pad.edge("b", True, 3.7)
    pad.edge("b", False, 3.8)
    pad.edge("a", False, 3.9)
    assert pad.functions()[2:] == [("rate", 3.6), ("q", 3.8)]


def test_up_repeats_while_held():
    pad = Pad()
    pad.edge("up", True, 1.0)
    pad.edge("up", False, 1.0 + 0.5 + 0.12 * 3 + 0.01)
    assert pad.functions() == [("up", 1.0), ("up", 1.5), ("up", 1.62), ("up", 1.74),
                               ("up", 1.86)]


def test_holding_left_jogs_fine_then_coarse_and_a_short_press_goes_left():
    pad = Pad()
    pad.press("left", hold=0.1)
    pad.edge("left", True, 1.0)
    pad.edge("left", False, 3.0)
    holds = [(o.function, o.stage, round(o.t, 6)) for o in pad.out if isinstance(o, Hold)]
    assert pad.functions() == [("left", pytest.approx(0.3))]
    assert holds == [("jog_near", 1, 1.6), ("jog_near", 2, 2.8), ("jog_near", 0, 3.0)]


def test_a_chattering_contact_gives_one_press_and_one_release():
    pad = Pad()
    for i in range(4):                              # 8 edges within 4 ms
        pad.edge("thumb", True, 1.0 + i * 0.001)
        pad.edge("thumb", False, 1.0005 + i * 0.001)
    pad.edge("thumb", True, 1.004)                  # ... then it stays closed
    pad.until(1.2)
    for i in range(3):                              # the release chatters too
        pad.edge("thumb", False, 1.2 + i * 0.001)
        pad.edge("thumb", True, 1.2005 + i * 0.001)
    pad.edge("thumb", False, 1.203)
    pad.until(2.0)
    assert [type(o).__name__ for o in pad.out] == ["Touch", "Do"]
    assert pad.keys.down() == []


def test_a_glitch_shorter_than_the_bounce_time_is_a_press_that_ends_when_it_settles():
    pad = Pad()
    pad.edge("b", True, 1.0)
    pad.edge("b", False, 1.0005)
    assert pad.keys.down() == ["b"]
    pad.until(1.1)
    assert pad.keys.down() == [] and pad.functions() == [("q", 1.03)]


def test_a_capturing_screen_takes_the_touch_and_uses_up_the_gesture():
    pad = Pad(capture=True)
    pad.edge("b", True, 1.0)
    pad.capture = False                             # the screen closed on that touch
    pad.until(2.0)
    pad.edge("b", False, 2.0)
    assert pad.out == [Touch("b", 1.0)]


def test_parse_gesture():
    assert str(parse_gesture("b")) == "b"
    assert str(parse_gesture(" b  long ")) == "b long"
    assert parse_gesture("centre+a").buttons == ("a", "centre")
    for bad, fragment in (("b twice", "not a gesture"), ("x", "unknown button 'x'"),
                          ("a+a", "two different"), ("", "not a gesture")):
        with pytest.raises(ValueError, match=fragment):
            parse_gesture(bad)


def test_bindings_refuse_what_cannot_work():
    with pytest.raises(BindingError, match="already does") as err:
        make_bindings({"info": ["a"], "set": ["a"]})
    assert err.value.function == "set"
    with pytest.raises(BindingError, match="repeats while 'up' is held"):
        make_bindings({"up": ["up"], "af": ["up long"]})
    with pytest.raises(BindingError, match="cannot be a chord"):
        make_bindings({"jog_far": ["a+b"]})
    with pytest.raises(BindingError, match="unknown function"):
        make_bindings({"zoom": ["a"]})


def test_every_function_of_the_module_and_jogging_has_a_gesture_by_default():
    for function in ("info", "set", "q", "trash", "up", "down", "left", "right", "rate", "af",
                     "jog_near", "jog_far"):
        assert DEFAULT.gestures(function), function
    assert [str(g) for g in DEFAULT.gestures("set")] == ["thumb", "centre"]
    assert not DEFAULT.waits("thumb") and DEFAULT.waits("centre")


def test_the_card_lists_every_gesture_once():
    rows = describe(DEFAULT, BUTTONS)
    gestures = [g for g, _ in rows]
    assert len(gestures) == len(set(gestures))
    count = len(DEFAULT.press) + len(DEFAULT.long) + len(DEFAULT.chord)
    assert len(rows) == count
    assert ("thumb", "store point / next in play") in rows
    assert describe(Bindings()) == []
