"""Telling systemd how the service is doing (``sd_notify``), with no dependency.

``systemd/rig.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd
waits for ``READY=1`` before it calls the rig started, and restarts it when
``WATCHDOG=1`` stops arriving.  Outside systemd (``NOTIFY_SOCKET`` unset, as
in a terminal or the tests) every method does nothing, so the same entry
point runs everywhere.

How ``rig run`` uses it::

    notifier = Notifier()
    app.start()
    notifier.ready()
    period = min(1.0, notifier.watchdog_interval or 1.0)
    while not stop.wait(until=clock.now() + period):
        notifier.watchdog()
    notifier.stopping()
    app.stop()

* :meth:`ready` once ``app.start()`` has returned (display, buttons and the
  lens worker started), not when the camera is found: the rig waits for the
  camera as long as it takes, and systemd would kill a start that takes
  longer than ``TimeoutStartSec``.
* :meth:`watchdog` from the main loop, at least every
  :attr:`watchdog_interval` seconds; a loop that also checks the app's threads
  are alive before it pings gets a dead worker thread restarted too.
* :meth:`stopping` as soon as SIGTERM (or SIGINT) has set ``stop``, before
  ``app.stop()``, so ``systemctl status`` shows the rig is on its way out
  while the lens finishes its current command.
* :meth:`status` for the one line ``systemctl status rig`` shows ("waiting
  for the camera", "playing 2/3").
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """The service manager's notification socket, if there is one.

    ``environ`` defaults to :data:`os.environ`.  ``NOTIFY_SOCKET`` is a
    filesystem path or, starting with ``@``, an abstract socket name.
    ``WATCHDOG_USEC`` enables :meth:`watchdog`; ``WATCHDOG_PID``, when set,
    must be this process, as sd_watchdog_enabled() requires.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if name.startswith("/"):
            self.address = name
        elif name.startswith("@"):
            self.address = "\0" + name[1:]  # Linux abstract namespace
        elif name:
            log.warning("NOTIFY_SOCKET=%r is not a unix socket: not notifying systemd", name)
        self._watchdog_s = _watchdog_seconds(env) if self.address else None
        self._socket: socket.socket | None = None
        self._failed = False

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between :meth:`watchdog` calls (half of WatchdogSec), or None."""
        return None if self._watchdog_s is None else self._watchdog_s / 2

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        self._send("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> None:
        if self._watchdog_s is not None:
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto(message.encode(), self.address)
            self._failed = False
        except OSError as exc:
            # A rig that cannot tell systemd it is alive still pulls focus;
            # systemd will act on the silence.  Say so once per outage,
            # not every second.
            if not self._failed:
                log.warning("cannot notify systemd (%s): %s", message, exc)
                self._failed = True


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None                       # the watchdog is another process's
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None
