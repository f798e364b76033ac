"""The buttons and the focus wheel, through gpiozero.

gpiozero delivers edges only.  Each edge becomes a :class:`~rig.sequencer.Press`
or :class:`~rig.sequencer.Release` stamped with rig's clock and goes to the
core; holds, repeats and debouncing are decided there, in testable time
(gpiozero's own hold timer runs in real time in a thread of its own, which a
simulation cannot control).  ``bounce_time`` is left off: on the lgpio
backend it delays every press by the debounce interval.

Switches connect a GPIO to ground; the internal pull-ups hold it high.  Tests
and the simulator pass gpiozero's ``MockFactory`` and drive the mock pins.
"""

from __future__ import annotations

from typing import Any, Callable

from gpiozero import DigitalInputDevice, RotaryEncoder

from .clock import Clock
from .sequencer import Press, Release, Turn

__all__ = ["Buttons"]


class Buttons:
    """Named inputs and an optional ``focus`` encoder posting events to ``post``."""

    def __init__(self, pins: dict[str, int], post: Callable[[Any], None], clock: Clock, *,
                 encoder: dict[str, Any] | None = None, pin_factory: Any = None) -> None:
        self._post = post
        self._clock = clock
        self.devices: dict[str, DigitalInputDevice] = {}
        self.encoder: RotaryEncoder | None = None
        try:
            for name, pin in pins.items():
                dev = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                         pin_factory=pin_factory)
                dev.when_activated = self._edge(Press, name)
                dev.when_deactivated = self._edge(Release, name)
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

    def _edge(self, kind: type, name: str) -> Callable[[], None]:
        def fire() -> None:
            self._post(kind(name, self._clock.now()))
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
