"""Buttons through gpiozero's MockFactory: edges only, stamped with our clock."""

from gpiozero.pins.mock import MockFactory

from rig.buttons import Buttons
from rig.clock import VirtualClock
from rig.config import load_config
from rig.controls import Edge
from rig.sequencer import Turn


def make():
    clock = VirtualClock(start=100.0)
    factory = MockFactory()
    events = []
    config = load_config()
    buttons = Buttons(config.buttons, events.append, clock,
                      encoder={"a": 19, "b": 26}, pin_factory=factory)
    return buttons, factory, clock, events, config


def test_every_input_presses_and_releases():
    buttons, factory, clock, events, config = make()
    for pin in config.buttons.values():
        factory.pin(pin).drive_low()
        clock.sleep(0.05)
        factory.pin(pin).drive_high()
    assert [e.button for e in events[0::2]] == list(config.buttons)
    assert all(e.down for e in events[0::2]) and not any(e.down for e in events[1::2])
    assert events[0] == Edge("up", True, 100.0) and events[1].t == 100.05
    buttons.close()


def test_encoder_detents_become_signed_turns():
    buttons, factory, clock, events, config = make()
    a, b = factory.pin(19), factory.pin(26)
    for first, second in ((a, b), (a, b), (b, a)):
        first.drive_low()
        second.drive_low()
        first.drive_high()
        second.drive_high()
    assert [e.detents for e in events if isinstance(e, Turn)] == [1, 1, -1]
    buttons.close()


def _bouncing_thumb_take(tmp_path, config):
    """One thumb press that chatters on closing and on opening, on the whole rig.

    gpiozero's MockFactory drives the thumb pin; the app runs on the simulator
    in virtual time.  The pull to point 2 is short, so it is over before the
    thumb opens again: a bounce on release would be a second press.
    Returns the point the rig ends on (1-based) and the time from the first
    edge to the transition's start.
    """
    from rig.app import App, load_state
    from rig.sequencer import Activity, Point
    from rig.sim import DEFAULT_PROFILE, SimBody, known_calibration, load_profile
    from rig.store import Store

    clock = VirtualClock()
    profile = load_profile(DEFAULT_PROFILE)
    store = Store(tmp_path)
    store.save_calibration(known_calibration(profile))
    store.save_sequence((Point(100), Point(104), Point(300), Point(50)))
    app = App(clock, SimBody(profile, clock).session, store,
              state=load_state(store, config.ui, config.bindings))
    factory = MockFactory()
    buttons = Buttons(config.buttons, app.post, clock, pin_factory=factory)
    app.start()
    try:
        assert app.wait_idle(until=clock.now() + 600)
        assert app.state.index == 0 and app.state.activity == Activity.IDLE
        thumb = factory.pin(config.buttons["thumb"])

        def chatter(last):
            start = clock.now()
            for _ in range(3):
                thumb.drive_low()
                clock.sleep(0.0008)
                thumb.drive_high()
                clock.sleep(0.0008)
            (thumb.drive_low if last == "closed" else thumb.drive_high)()
            assert clock.now() - start < 0.005    # every edge within 5 ms

        pressed = clock.now()
        chatter("closed")
        started = app.state.transition.t0 - pressed
        clock.sleep(0.6)                          # the short pull is over by now
        assert app.state.transition is None
        chatter("open")
        assert app.wait_idle(until=clock.now() + 600)
        return app.state.index + 1, started
    finally:
        app.stop()
        buttons.close()


def test_a_bouncing_thumb_advances_exactly_once_through_the_whole_rig(tmp_path):
    point, started = _bouncing_thumb_take(tmp_path / "debounced", load_config())
    assert point == 2
    assert started < 0.04          # from the first edge: the latency and lead of the plan
    # The same chattering thumb without debouncing advances twice: the test sees it.
    undebounced = tmp_path / "nodebounce.toml"
    undebounced.write_text("[ui]\nbounce_time = 0.0\n")
    point, _ = _bouncing_thumb_take(tmp_path / "raw", load_config(undebounced))
    assert point == 3
