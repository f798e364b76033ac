"""The desktop preview: the OLED in a window, the keyboard as the buttons.

``rig run --camera sim:PROFILE.toml --display pygame`` runs the real rig on
the simulated camera in real time, shows the OLED in a luma.emulator window
and turns keys into button presses, so anyone can try the rig without the
hardware:

=========================  ==========================================
key                        button
=========================  ==========================================
Space                      the thumb button
Enter                      the joystick's centre
arrow keys                 the joystick
A, B                       buttons A and B (both together: help)
W                          the focus wheel's push switch
``,`` and ``.``            turn the focus wheel one detent
Esc, or closing the window stop rig
=========================  ==========================================

Holding a key holds the button: long presses, repeats and jogging work as
on the rig.  The keys drive the pins of gpiozero's ``MockFactory``, so the
presses take exactly the path the GPIO edges take on a Pi.

pygame (SDL) wants every video and event call from the thread that opened
the window, so the window lives in a thread of its own: the display loop
hands it frames, and it posts nothing but pin edges.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from PIL import Image

from .display import HEIGHT, WIDTH

log = logging.getLogger(__name__)

__all__ = ["Window", "KEYS", "TURNS", "inputs"]

# pygame key names (pygame.key.name) -> button
KEYS = {"space": "thumb", "return": "centre", "enter": "centre", "up": "up", "down": "down",
        "left": "left", "right": "right", "a": "a", "b": "b", "w": "wheel"}
TURNS = {",": -1, ".": +1}
POLL_S = 0.005        # how often the window looks at the keyboard


class Window:
    """A luma.emulator pygame window that stands in for the SSD1306.

    It has what :class:`~rig.display.DisplayLoop` uses of a luma device
    (``mode``, ``display``, ``show``, ``hide``, ``persist``) and a gpiozero
    ``pin_factory`` whose pins the keyboard drives.
    """

    mode = "1"

    def __init__(self, pins: dict[str, int], encoder: dict[str, Any], *, scale: int = 4,
                 title: str = "rig preview (keys: docs/operating.md)") -> None:
        from gpiozero.pins.mock import MockFactory
        self.pin_factory = MockFactory()
        self.persist = False
        self.pins = dict(pins)
        self.encoder = encoder
        self.scale = scale
        self.title = title
        self._lock = threading.Lock()
        self._frame: Image.Image | None = None
        self._on = True
        self._dirty = False
        self._closing = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="window", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"cannot open the preview window: {self._error}") \
                from self._error

    # -- what the display loop calls (any thread)
    def display(self, image: Image.Image) -> None:
        with self._lock:
            self._frame = image.copy()
            self._dirty = True

    def show(self) -> None:
        with self._lock:
            self._on, self._dirty = True, True

    def hide(self) -> None:
        with self._lock:
            self._on, self._dirty = False, True

    def close(self) -> None:
        """Close the window (after the last frame has been drawn)."""
        self._closing.set()
        self._thread.join(timeout=5)

    # -- the window's own thread
    def _run(self) -> None:
        try:
            from luma.emulator.device import pygame as emulator
            device = emulator(width=WIDTH, height=HEIGHT, mode="1", transform="identity",
                              scale=self.scale, frame_rate=100)
            pg = device._pygame
            pg.display.set_caption(self.title)
            device.display(Image.new("1", (WIDTH, HEIGHT)))   # opens the window
        except BaseException as exc:   # no display, no SDL: say so in the caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._closing.is_set():
                if not self._events(pg):
                    break
                self._draw(device)
                pg.time.wait(round(POLL_S * 1000))
            self._draw(device)
        except SystemExit:          # luma's own Esc check
            self._quit()
        finally:
            pg.quit()

    def _events(self, pg: Any) -> bool:
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self._quit()
                return False
            if event.type not in (pg.KEYDOWN, pg.KEYUP):
                continue
            name = pg.key.name(event.key)
            down = event.type == pg.KEYDOWN
            if name == "escape" and down:
                self._quit()
                return False
            if name in KEYS and KEYS[name] in self.pins:
                pin = self.pin_factory.pin(self.pins[KEYS[name]])
                (pin.drive_low if down else pin.drive_high)()
            elif name in TURNS and down:
                self._turn(TURNS[name])
        return True

    def _turn(self, detents: int) -> None:
        """One detent of quadrature on the encoder's mock pins."""
        a = self.pin_factory.pin(self.encoder["a"])
        b = self.pin_factory.pin(self.encoder["b"])
        first, second = (a, b) if detents > 0 else (b, a)
        first.drive_low()
        second.drive_low()
        first.drive_high()
        second.drive_high()

    def _draw(self, device: Any) -> None:
        with self._lock:
            if not self._dirty:
                return
            frame, on, self._dirty = self._frame, self._on, False
        if frame is None:
            return
        device.display(frame if on else Image.new("1", (WIDTH, HEIGHT)))

    def _quit(self) -> None:
        log.info("preview window closed: stopping")
        signal.raise_signal(signal.SIGTERM)      # rig run stops as on systemctl stop


def inputs(config: Any, device: Any) -> tuple[dict[str, int], dict[str, Any] | None, Any]:
    """The pins, encoder and pin factory ``rig run`` opens its buttons with.

    On the rig: the configured buttons through gpiozero's default factory.
    In the preview window: every button and the focus wheel, on the
    window's mock pins.
    """
    factory = getattr(device, "pin_factory", None)
    if factory is None:
        return config.buttons, config.encoder, None
    encoder = config["encoder"]["focus"]
    return {**config.buttons, "wheel": encoder["push"]}, encoder, factory


def open_window(config: Any) -> Window:
    encoder = config["encoder"]["focus"]
    window = Window({**config.buttons, "wheel": encoder["push"]}, encoder)
    log.info("preview: Space = thumb, Enter = centre, arrows = joystick, A/B = buttons, "
             "W = wheel push, ,/. = turn the wheel, Esc = quit")
    return window


def known_lens(store: Any, spec: str, settings: Any) -> None:
    """Calibrate a new simulated lens in virtual time (~15 s) instead of real time (~17 min).

    The same calibration runs on an identical simulated body, so the preview
    starts with what ``rig calibrate --camera sim:PROFILE.toml`` would store.
    """
    from .calibrate import calibrate
    from .clock import VirtualClock
    from .lens import Lens
    from .sim import SimBody, load_profile
    profile = load_profile(spec[4:])
    if store.load_calibration(profile.model, profile.lens) is not None:
        return
    log.info("preview: a new simulated lens, calibrating it in virtual time")
    clock = VirtualClock()
    lens = Lens(SimBody(profile, clock).session(), clock)
    lens.connect()
    path = store.save_calibration(calibrate(lens, settings))
    log.info("preview: calibration saved to %s", path)
