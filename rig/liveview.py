"""The latest live-view frame, for whoever watches (the web page).

The lens worker is the only thread that may call the camera, so it is the
one capture loop: every frame it takes (to keep live view on, for autofocus,
for position checks, or because someone watches) is published here, in a
single slot.  Readers always take the latest frame; nobody queues frames per
reader, so a slow reader skips frames and costs the others nothing.

How often the worker captures for the watchers is decided by
:meth:`LiveFeed.period`:

* nobody watching: no extra frames (the worker's keep-alive frame only);
* someone watching: ``fps`` frames a second;
* in play mode: ``play_fps`` (0 pauses the live view between takes).  A
  press of SET that arrives while a frame is being captured waits for the
  USB call to end, so fewer frames in play mean fewer pulls that start late;
* during a transition: none.  The worker runs the pull and nothing else, so
  capture is paused by construction while a pull runs
  (``bench/web_timing.py`` measures both).

This module has no web code in it: :mod:`rig.web` reads the slot.
"""

from __future__ import annotations

import threading
from typing import Callable

__all__ = ["LiveFeed"]


class LiveFeed:
    """One slot with the latest JPEG, a frame counter and the watchers' count.

    ``publish`` is called by the lens worker; listeners (the web server's
    event loop) are told a new frame is there and read it with ``latest``.
    """

    def __init__(self, fps: float = 8.0, play_fps: float = 2.0) -> None:
        self.fps = fps
        self.play_fps = play_fps
        self._lock = threading.Lock()
        self._seq = 0
        self._jpeg = b""
        self._stamp = 0.0
        self._watchers = 0
        self._listeners: list[Callable[[], None]] = []

    # -- the writer: the lens worker
    def publish(self, jpeg: bytes, stamp: float) -> None:
        with self._lock:
            self._seq += 1
            self._jpeg, self._stamp = jpeg, stamp
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def period(self, playing: bool) -> float | None:
        """Seconds between frames for the watchers; None: capture none for them."""
        if self._watchers <= 0:
            return None
        fps = self.play_fps if playing else self.fps
        return 1.0 / fps if fps > 0 else None

    # -- the readers
    def latest(self) -> tuple[int, bytes, float]:
        """(frame number, JPEG, clock time it was taken); number 0: none yet."""
        with self._lock:
            return self._seq, self._jpeg, self._stamp

    @property
    def watchers(self) -> int:
        return self._watchers

    def watch(self, delta: int) -> None:
        """A watcher comes (+1) or goes (-1)."""
        with self._lock:
            self._watchers = max(0, self._watchers + delta)

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each new frame; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return stop
