"""One clock for everything that waits or timestamps.

Every part of rig that sleeps, waits for a message or stamps a time takes a
:class:`Clock`.  Two implementations exist:

* :class:`MonotonicClock` is real time (``time.monotonic``) with ordinary
  threads.  It runs on the hardware.
* :class:`VirtualClock` is simulated time.  The same threads run, but only one
  of them (one *actor*) runs at any instant; when every actor is waiting, the
  clock jumps straight to the earliest deadline.  A three-minute session runs
  in well under a second of real time, and it runs the same way every time:
  the order in which actors run depends only on virtual time and on the order
  in which they started waiting.

Waiting is always expressed against an absolute deadline (``sleep_until``,
``Channel.get(until=...)``), as Klipper does: plans are stamped on the
timeline once, and nothing drifts by summing relative sleeps.

Rules for code that runs under a :class:`VirtualClock`: block only through the
clock (``sleep_until``, ``Channel.get``, ``Task.join``, ``Flag.wait``), never on
a bare ``threading`` primitive held across a wait, or the simulation stops.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import Any, Callable

__all__ = [
    "Clock", "MonotonicClock", "VirtualClock", "Channel", "Flag", "Task",
    "EMPTY", "Deadlock",
]


class _Empty:
    def __repr__(self) -> str:
        return "EMPTY"


#: Returned by :meth:`Channel.get` when its deadline passes with no message.
EMPTY: Any = _Empty()


class Deadlock(RuntimeError):
    """Every actor of a :class:`VirtualClock` waits and no deadline is pending."""


class Clock:
    """The interface shared by real and virtual time."""

    def now(self) -> float:
        raise NotImplementedError

    def sleep_until(self, deadline: float) -> None:
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        self.sleep_until(self.now() + seconds)

    def spawn(self, target: Callable[..., Any], *args: Any, name: str) -> "Task":
        raise NotImplementedError

    def channel(self) -> "Channel":
        raise NotImplementedError

    def flag(self) -> "Flag":
        """A level-triggered flag that actors can wait for."""
        return Flag(self.channel())


class Task:
    """A started actor.  :meth:`join` waits for it and re-raises its error."""

    def __init__(self, name: str, done: "Channel") -> None:
        self.name = name
        self._done = done
        self.finished = False
        self.error: BaseException | None = None
        self.result: Any = None

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error, self.finished = result, error, True
        self._done.put(True)

    def join(self, until: float | None = None) -> bool:
        """Wait until the task ends (or ``until``); True when it has ended."""
        if not self.finished:
            if self._done.get(until=until) is EMPTY:
                return False
            self._done.put(True)  # let further joiners through
        if self.error is not None:
            raise self.error
        return True


class Channel:
    """A FIFO mailbox between actors; ``put`` never blocks."""

    def put(self, item: Any) -> None:
        raise NotImplementedError

    def get(self, until: float | None = None) -> Any:
        """The oldest item, waiting until ``until`` at most; ``EMPTY`` on timeout."""
        raise NotImplementedError

    def get_nowait(self) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class Flag:
    """Set/clear state that can be waited for, built on a channel."""

    def __init__(self, channel: Channel) -> None:
        self._ch = channel
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._ch.put(True)

    def clear(self) -> None:
        self._set = False
        while self._ch.get_nowait() is not EMPTY:
            pass

    def wait(self, until: float | None = None) -> bool:
        if self._set:
            return True
        if self._ch.get(until=until) is EMPTY:
            return False
        self._ch.put(True)  # wake any other waiter too
        return self._set


# ---------------------------------------------------------------- real time


class MonotonicClock(Clock):
    """Real time from ``time.monotonic`` with plain threads."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(left)

    def spawn(self, target: Callable[..., Any], *args: Any, name: str) -> Task:
        task = Task(name, self.channel())

        def body() -> None:
            result, error = None, None
            try:
                result = target(*args)
            except BaseException as exc:  # reported through join()
                error = exc
            task._finish(result, error)

        threading.Thread(target=body, name=name, daemon=True).start()
        return task

    def channel(self) -> Channel:
        return _ThreadChannel()


class _ThreadChannel(Channel):
    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._cv = threading.Condition()

    def put(self, item: Any) -> None:
        with self._cv:
            self._items.append(item)
            self._cv.notify()

    def get(self, until: float | None = None) -> Any:
        with self._cv:
            while not self._items:
                if until is None:
                    self._cv.wait()
                else:
                    left = until - time.monotonic()
                    if left <= 0:
                        return EMPTY
                    self._cv.wait(left)
            return self._items.popleft()

    def get_nowait(self) -> Any:
        with self._cv:
            return self._items.popleft() if self._items else EMPTY

    def __len__(self) -> int:
        return len(self._items)


# ------------------------------------------------------------- virtual time


class _Actor:
    __slots__ = ("name", "wake", "waiting")

    def __init__(self, name: str) -> None:
        self.name = name
        self.wake = threading.Event()
        self.waiting: _Wait | None = None


class _Wait:
    """One pending wait of one actor; fired once, by a message or a deadline."""

    __slots__ = ("actor", "fired", "error")

    def __init__(self, actor: _Actor) -> None:
        self.actor = actor
        self.fired = False
        self.error: BaseException | None = None


class VirtualClock(Clock):
    """Simulated time: actors take turns, time jumps when all of them wait.

    The thread that creates the clock is the first actor ("main").  Actors
    started with :meth:`spawn` are real threads, but a baton is passed between
    them so that exactly one runs at a time.  If an actor dies with an
    exception, or every actor waits forever, the error is raised in the main
    actor at its next wait so a test fails instead of hanging.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _Wait]] = []
        self._ready: deque[_Wait] = deque()
        self._main = _Actor("main")
        self._current = self._main
        self._actors = 1
        self._main_error: BaseException | None = None
        self.switches = 0  # how many times the baton moved (for benchmarks)

    # -- public API
    def now(self) -> float:
        return self._now

    def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            return
        wait = self._new_wait()
        heapq.heappush(self._timers, (deadline, next(self._seq), wait))
        self._block(wait)

    def spawn(self, target: Callable[..., Any], *args: Any, name: str) -> Task:
        actor = _Actor(name)
        task = Task(name, self.channel())
        self._actors += 1

        def body() -> None:
            actor.wake.wait()
            actor.wake.clear()
            result, error = None, None
            try:
                result = target(*args)
            except BaseException as exc:
                error = exc
            self._actors -= 1
            task._finish(result, error)
            if error is not None and not isinstance(error, Deadlock):
                self._fail_main(RuntimeError(f"actor {name!r} failed: {error!r}"), error)
            self._pass_baton(actor)

        thread = threading.Thread(target=body, name=f"virtual:{name}", daemon=True)
        thread.start()
        start = _Wait(actor)
        start.fired = True
        self._ready.append(start)
        return task

    def channel(self) -> Channel:
        return _VirtualChannel(self)

    # -- scheduling internals (only ever run by the actor holding the baton)
    def _new_wait(self) -> _Wait:
        wait = _Wait(self._current)
        self._current.waiting = wait
        return wait

    def _fire(self, wait: _Wait, error: BaseException | None = None) -> bool:
        if wait.fired:
            return False
        wait.fired = True
        wait.error = error
        self._ready.append(wait)
        return True

    def _fail_main(self, error: BaseException, cause: BaseException) -> None:
        error.__cause__ = cause
        pending = self._main.waiting
        if pending is not None and not pending.fired:
            self._fire(pending, error)
        else:
            self._main_error = error

    def _block(self, wait: _Wait) -> None:
        me = self._current
        if self._pass_baton(me):
            me.wake.wait()
            me.wake.clear()
        me.waiting = None
        if wait.error is not None:
            error, wait.error = wait.error, None
            raise error
        if me is self._main and self._main_error is not None:
            error, self._main_error = self._main_error, None
            raise error

    def _pass_baton(self, me: _Actor) -> bool:
        """Give the baton to the next ready actor; True if that is not ``me``."""
        while not self._ready:
            if not self._timers:
                pending = self._main.waiting
                if pending is None or pending.fired:
                    raise Deadlock(f"virtual clock stalled at {self._now:.3f} s")
                self._fire(pending, Deadlock(
                    f"all {self._actors} actors wait and no deadline is pending "
                    f"(virtual time {self._now:.3f} s)"))
                break
            deadline, _, wait = heapq.heappop(self._timers)
            if not wait.fired:
                self._now = max(self._now, deadline)
                self._fire(wait)
        nxt = self._ready.popleft().actor
        self.switches += 1
        self._current = nxt
        if nxt is me:
            return False
        nxt.wake.set()
        return True


class _VirtualChannel(Channel):
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._items: deque[Any] = deque()
        self._waiters: deque[_Wait] = deque()

    def put(self, item: Any) -> None:
        self._items.append(item)
        while self._waiters:
            if self._clock._fire(self._waiters.popleft()):
                break

    def get(self, until: float | None = None) -> Any:
        clock = self._clock
        while not self._items:
            if until is not None and until <= clock._now:
                return EMPTY
            wait = clock._new_wait()
            self._waiters.append(wait)
            if until is not None:
                heapq.heappush(clock._timers, (until, next(clock._seq), wait))
            clock._block(wait)
            if wait in self._waiters:
                self._waiters.remove(wait)
        return self._items.popleft()

    def get_nowait(self) -> Any:
        return self._items.popleft() if self._items else EMPTY

    def __len__(self) -> int:
        return len(self._items)
