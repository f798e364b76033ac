"""``rig run``: the app, its buttons and systemd's notifications, on any clock.

:class:`Service` is what the Pi boots into.  ``rig run`` builds it on a
:class:`~rig.clock.MonotonicClock` with the real camera, GPIO and OLED, sets
a flag from SIGTERM and calls :meth:`Service.run`;
:func:`rig.harness.simulate_boot` builds the same object on a
:class:`~rig.clock.VirtualClock` with the simulator, gpiozero's
``MockFactory`` and luma's ``dummy`` device, and runs the same
:meth:`Service.run` as an actor, so the boot sequence is tested and pictured
in virtual time.

The boot, as the operator sees it on the OLED (the app does it all; this
module only starts it and keeps systemd informed):

1. the display loop starts with the app: from its first frame the screen
   says it is waiting for the camera, then why ("no camera on USB: plug it
   in and switch it on");
2. the camera answers: a known lens homes against its stop ("homing lens"),
   a new one is calibrated, then a short drive checks that the lens moves
   (lens switch on AF);
3. with a saved sequence the lens goes to point 1 and the rig is in play;
   with none, the screen says how to record one.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from .app import App, load_state
from .buttons import Buttons
from .calibrate import CalibrationSettings
from .clock import Clock, Flag
from .config import Config
from .desktop import inputs
from .notify import Notifier
from .sequencer import Notice, Tick, WebPage
from .liveview import LiveFeed
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["Service"]


class Service:
    """The rig as a service: built once, then :meth:`run` until ``stop`` is set."""

    def __init__(self, clock: Clock, config: Config, open_camera: Callable[[], Any], *,
                 display_device: Any, notifier: Notifier, pin_factory: Any = None,
                 recorder: Any = None, display_reopen: Callable[[], Any] | None = None) -> None:
        self.clock = clock
        self.notifier = notifier
        self.store = Store(config.state_dir())
        web = config["web"]
        self.app = App(clock, open_camera, self.store,
                       state=load_state(self.store, config.ui, config.bindings),
                       display_device=display_device, recorder=recorder,
                       display_reopen=display_reopen,
                       calibration_settings=CalibrationSettings(**config["calibration"]),
                       live=LiveFeed(web["fps"], web["play_fps"]))
        self.web_config = web if web["enabled"] else None
        self.web: Any = None
        self._address = ""            # where the help page says the page is
        self._address_at = 0.0
        # The desktop preview's window brings its own (mock) pins for the keyboard.
        pins, encoder, window_pins = inputs(config, display_device)
        self.buttons = Buttons.or_none(pins, self.app.post, clock, encoder=encoder,
                                       pin_factory=pin_factory or window_pins)

    def run(self, stop: Flag) -> int:
        """Start the app, tell systemd, feed its watchdog until ``stop``; stop cleanly."""
        clock, app, notifier = self.clock, self.app, self.notifier
        app.start()
        self._start_web()
        # Ready as soon as the app runs: it may wait for the camera for as long as
        # it takes, which must not count against systemd's start timeout.
        notifier.ready()
        log.info("rig running (state in %s)", self.store.root)
        period = min(1.0, notifier.watchdog_interval or 1.0)
        beat = app.heartbeat
        try:
            while not stop.wait(until=clock.now() + period):
                self._readdress()
                # The watchdog is fed only when the core has handled the tick sent
                # last time and no actor has died: a hung rig gets restarted.
                if app.heartbeat != beat and app.alive():
                    notifier.watchdog()
                beat = app.heartbeat
                app.post(Tick(clock.now()))
                notifier.status(app.status())
            notifier.stopping()
        finally:
            if self.web is not None:
                self.web.stop()
            app.stop()
            if self.buttons is not None:
                self.buttons.close()
            notifier.close()
        return 0

    ADDRESS_CHECK_S = 10.0     # how often the page's address is looked at again

    def _readdress(self) -> None:
        """The Pi joined another network (DHCP, the set's Wi-Fi): the help page's
        address and QR code follow."""
        if self.web is None or self.clock.now() < self._address_at + self.ADDRESS_CHECK_S:
            return
        self._address_at = self.clock.now()
        from .address import best_url
        url = best_url(self.web_config["host"], self.web.port)
        if url != self._address:
            log.info("web page now on %s", url)
            self._address = url
            self.app.post(WebPage(url, self.web.token, self.clock.now()))

    def _start_web(self) -> None:
        """The web page, if the config turns it on.  It cannot stop the rig: a port
        in use is said in the journal and on the OLED, and the rig runs without it."""
        if self.web_config is None:
            return
        from .address import best_url
        from .web import WebServer, token_for
        web = self.web_config
        try:
            token = token_for(self.store.root)
            server = WebServer(self.app, token, web["host"], web["port"])
            server.start()
        except OSError as exc:
            log.error("%s", exc)
            self.app.post(Notice("web page off: see log", self.clock.now()))
            return
        self.web = server
        self._address = best_url(web["host"], server.port)
        self._address_at = self.clock.now()
        self.app.post(WebPage(self._address, token, self.clock.now()))
