"""Buttons through gpiozero's MockFactory: edges only, stamped with our clock."""

from gpiozero.pins.mock import MockFactory

from rig.buttons import Buttons
from rig.clock import VirtualClock
from rig.config import load_config
from rig.sequencer import Press, Release, Turn


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
    names = [e.name for e in events if isinstance(e, Press)]
    assert names == list(config.buttons)
    assert all(isinstance(e, Release) for e in events[1::2])
    assert events[0].t == 100.0 and events[1].t == 100.05
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
