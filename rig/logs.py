"""Logging for the journal and for a terminal, with no I/O on the timing thread.

:func:`start_logging` (called once by ``rig``'s ``main``) sets up:

* **A queue between the loggers and the output.**  The root logger has one
  :class:`~logging.handlers.QueueHandler`; a
  :class:`~logging.handlers.QueueListener` thread takes the records off the
  queue and writes them to stderr.  A thread that logs (the lens worker, in
  the middle of a pull) only formats the message and puts it on the queue,
  so a slow journal or a terminal paused with ctrl-S never holds up a lens
  command.  The queue is bounded: if the output stalls for long enough to
  fill it, further records are dropped rather than let memory grow, and the
  listener says how many once the output moves again.
* **A format for where the output goes.**  Under systemd, stderr is a stream
  to journald (``JOURNAL_STREAM`` names its device and inode, which must
  match stderr's, as ``sd_journal_stream_fd`` does it): journald stamps each
  line itself, so the line carries no time, and it starts with the syslog
  priority (``<4>`` for a warning) so that ``journalctl -p warning`` finds
  the warnings.  In a terminal or a file, each line starts with the time.
* **libgphoto2's own messages** as records of the ``gphoto2`` logger
  (python-gphoto2's ``use_python_logging``), at levels that suit the rig:

  ==================  ============  ===========  ==============
  libgphoto2 level    ``rig ...``   ``rig -v``   ``rig -vv``
  ==================  ============  ===========  ==============
  ``GP_LOG_ERROR``    INFO          INFO         INFO
  ``GP_LOG_VERBOSE``  (not asked)   DEBUG        DEBUG
  ``GP_LOG_DEBUG``    (not asked)   (not asked)  DEBUG
  ``GP_LOG_DATA``     (not asked)   (not asked)  (not asked)
  ==================  ============  ===========  ==============

  Its "errors" are INFO, not WARNING: most are the other face of an error
  code that rig handles and explains itself (a config name probed on a
  camera that lacks it, "Could not detect any camera" while waiting for
  one), and they belong in the journal as context, not in ``journalctl -p
  warning``.  Levels not asked for are not even produced: libgphoto2 calls
  back only for the levels that are forwarded.  Its debug level is tens of
  lines per camera call, all on the lens worker's thread, hence ``-vv``
  only; its data level is hex dumps of every USB packet, never forwarded.
  libgphoto2 repeats itself on every retry (every 2 s while the camera is
  missing): a message already passed in the last :data:`REPEAT_WINDOW_S`
  is held back and counted, and the next one through says how many.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler, QueueListener
from typing import Any, Callable, Mapping, TextIO

__all__ = ["start_logging", "Logging", "under_journal", "JournalFormatter", "RepeatFilter",
           "gphoto2_levels", "REPEAT_WINDOW_S", "CAPACITY"]

REPEAT_WINDOW_S = 300.0   # a libgphoto2 message said again within this is counted, not logged
CAPACITY = 10_000         # records waiting for the output before new ones are dropped

TERMINAL_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
TERMINAL_DATE = "%Y-%m-%d %H:%M:%S"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"

# syslog priorities, as journald reads them from a "<N>" line prefix (sd-daemon.h).
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
             (logging.INFO, 6))


def under_journal(stream: Any, environ: Mapping[str, str]) -> bool:
    """True when ``stream`` is the journal stream systemd gave this service."""
    try:
        device, inode = (int(part) for part in environ.get("JOURNAL_STREAM", "").split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, AttributeError, OSError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


class JournalFormatter(logging.Formatter):
    """No time (journald adds it); every line starts with the record's priority."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in _PRIORITY if record.levelno >= level), 7)
        # A traceback is several lines, and journald makes one entry of each.
        return "\n".join(f"<{priority}>{line}"
                         for line in super().format(record).splitlines() or [""])


class _Enqueue(QueueHandler):
    """Puts records on the bounded queue; never waits, counts what did not fit."""

    def __init__(self, q: "queue.Queue[Any]") -> None:
        super().__init__(q)
        self.dropped = 0
        self._lock = threading.Lock()

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self.dropped += 1


class _Listener(QueueListener):
    """Writes queued records; says how many were dropped while it could not keep up."""

    def __init__(self, q: "queue.Queue[Any]", handler: logging.Handler,
                 source: _Enqueue) -> None:
        super().__init__(q, handler)
        self.source = source
        self.reported = 0

    def handle(self, record: logging.LogRecord) -> None:
        dropped = self.source.dropped
        if dropped > self.reported:
            super().handle(logging.makeLogRecord({
                "name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
                "msg": f"{dropped - self.reported} log messages dropped: the log output "
                       "could not keep up"}))
            self.reported = dropped
        super().handle(record)

    def enqueue_sentinel(self) -> None:
        # Wait for room: the queue may be full when the program ends.
        self.queue.put(self._sentinel)


class RepeatFilter(logging.Filter):
    """Passes a message once per ``window`` seconds; the next pass says how often it came.

    ``now`` is monotonic seconds: the wall clock jumps when a Pi without a
    real-time clock gets the time over the network.
    """

    def __init__(self, window: float, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.now = now
        self._seen: dict[str, list[float]] = {}   # message -> [last passed, held back since]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        now = self.now()
        with self._lock:
            seen = self._seen.get(text)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            if len(self._seen) >= 256:       # forget what is old; never grow without end
                self._seen = {k: v for k, v in self._seen.items()
                              if now - v[0] < self.window}
                if len(self._seen) >= 256:
                    self._seen.clear()
            self._seen[text] = [now, 0]
        if seen is not None and seen[1]:
            record.msg = f"{text} (said {seen[1]:.0f} more times in the last {now - seen[0]:.0f} s)"
            record.args = None
        return True


def gphoto2_levels(verbosity: int) -> dict[int, int]:
    """libgphoto2 level -> Python level for ``rig``, ``rig -v``, ``rig -vv`` (0, 1, 2)."""
    import gphoto2 as gp
    off = logging.DEBUG - 5      # below DEBUG: python-gphoto2 does not ask libgphoto2 for it
    return {gp.GP_LOG_ERROR: logging.INFO,
            gp.GP_LOG_VERBOSE: logging.DEBUG if verbosity >= 1 else off,
            gp.GP_LOG_DEBUG: logging.DEBUG if verbosity >= 2 else off,
            gp.GP_LOG_DATA: off}


class Logging:
    """What :func:`start_logging` set up; :meth:`stop` writes what is queued and undoes it."""

    def __init__(self, *, level: int, verbosity: int, stream: TextIO,
                 environ: Mapping[str, str], capacity: int, gphoto2: bool) -> None:
        self.journal = under_journal(stream, environ)
        output = logging.StreamHandler(stream)
        output.setFormatter(JournalFormatter() if self.journal
                            else logging.Formatter(TERMINAL_FORMAT, TERMINAL_DATE))
        self.queue: queue.Queue[Any] = queue.Queue(capacity)
        self.handler = _Enqueue(self.queue)
        self.listener = _Listener(self.queue, output, self.handler)
        self.root = logging.getLogger()
        self._level = self.root.level
        self.root.setLevel(level)
        self.root.addHandler(self.handler)
        self.listener.start()
        self._gphoto2: Any = None
        self._repeats = RepeatFilter(REPEAT_WINDOW_S)
        if gphoto2:
            import gphoto2 as gp
            logging.getLogger("gphoto2").addFilter(self._repeats)
            # Keep the callback object: libgphoto2 forgets the callback with it.
            self._gphoto2 = gp.use_python_logging(gphoto2_levels(verbosity))

    def stop(self) -> None:
        """Uninstall everything; write the records still queued (waits for the output)."""
        self._gphoto2 = None
        logging.getLogger("gphoto2").removeFilter(self._repeats)
        self.root.removeHandler(self.handler)
        self.root.setLevel(self._level)
        self.listener.stop()

    def __enter__(self) -> "Logging":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_logging(level: int = logging.INFO, *, verbosity: int = 0,
                  stream: TextIO | None = None, environ: Mapping[str, str] | None = None,
                  capacity: int = CAPACITY, gphoto2: bool = True) -> Logging:
    """Route every record (libgphoto2's too) through a queue to ``stream`` (stderr)."""
    return Logging(level=level, verbosity=verbosity,
                   stream=sys.stderr if stream is None else stream,
                   environ=os.environ if environ is None else environ,
                   capacity=capacity, gphoto2=gphoto2)
