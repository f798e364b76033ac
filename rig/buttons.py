"""The buttons and the focus wheel, through gpiozero.

gpiozero delivers edges only.  Each edge becomes an
:class:`~rig.controls.Edge` stamped with rig's clock and goes to the core;
debouncing, long presses, chords, repeats and holds are decided there
(:mod:`rig.controls`), in testable time.  gpiozero's own hold timer runs in
real time in a thread of its own, which a simulation cannot control, and its
``bounce_time`` is left off: on the lgpio backend it delays every press by
the debounce interval, where rig takes the first edge at once.

Switches connect a GPIO to ground; the internal pull-ups hold it high.  Tests
and the simulator pass gpiozero's ``MockFactory`` and drive the mock pins.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable

from gpiozero import DigitalInputDevice, RotaryEncoder
from gpiozero.exc import BadPinFactory, PinFactoryFallback

from .clock import Clock
from .controls import Edge
from .sequencer import Turn

__all__ = ["Buttons", "NoGPIO"]

log = logging.getLogger(__name__)


class NoGPIO(Exception):
    """This machine has no GPIO gpiozero can use (a desktop): the message says so."""


class Buttons:
    """Named buttons and an optional ``focus`` encoder posting events to ``post``.

    ``pins`` maps button names (``rig.controls.BUTTONS``) to BCM GPIO
    numbers; ``encoder`` has the wheel's ``a`` and ``b`` pins (its push
    switch is the button ``wheel`` in ``pins``).
    """

    def __init__(self, pins: dict[str, int], post: Callable[[Any], None], clock: Clock, *,
                 encoder: dict[str, Any] | None = None, pin_factory: Any = None) -> None:
        self._post = post
        self._clock = clock
        self.devices: dict[str, DigitalInputDevice] = {}
        self.encoder: RotaryEncoder | None = None
        try:
            for name, pin in pins.items():
                dev = _input(pin, pin_factory)
                dev.when_activated = self._edge(name, True)
                dev.when_deactivated = self._edge(name, False)
                self.devices[name] = dev
            if encoder is not None:
                enc = RotaryEncoder(encoder["a"], encoder["b"], max_steps=0,
                                    pin_factory=pin_factory)
                enc.when_rotated_clockwise = self._turn(+1)
                enc.when_rotated_counter_clockwise = self._turn(-1)
                self.encoder = enc
        except Exception:
            self.close()
            raise

    @classmethod
    def or_none(cls, *args: Any, **kw: Any) -> "Buttons | None":
        """The buttons, or None (and one line in the log) on a machine without GPIO."""
        try:
            return cls(*args, **kw)
        except NoGPIO as exc:
            log.warning("%s", exc)
            return None

    def _edge(self, name: str, down: bool) -> Callable[[], None]:
        def fire() -> None:
            self._post(Edge(name, down, self._clock.now()))
        return fire

    def _turn(self, detents: int) -> Callable[[], None]:
        def fire() -> None:
            self._post(Turn("focus", detents, self._clock.now()))
        return fire

    def close(self) -> None:
        for dev in self.devices.values():
            dev.close()
        self.devices.clear()
        if self.encoder is not None:
            self.encoder.close()
            self.encoder = None


def _input(pin: int, pin_factory: Any) -> DigitalInputDevice:
    """One button's input.  The first one also picks gpiozero's pin factory: the
    factories it tried and passed over go to the log (one line), not to
    stderr as warnings; none at all (a desktop) raises :class:`NoGPIO`."""
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always", PinFactoryFallback)
        try:
            dev = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                     pin_factory=pin_factory)
        except BadPinFactory:
            raise NoGPIO("no GPIO on this machine: running with the buttons off "
                         "(rig run --display pygame puts them on the keyboard)") from None
    tried = [str(w.message) for w in fallbacks if issubclass(w.category, PinFactoryFallback)]
    if tried:
        log.info("GPIO through %s (gpiozero passed over: %s)",
                 type(dev.pin_factory).__name__, "; ".join(tried))
    return dev
