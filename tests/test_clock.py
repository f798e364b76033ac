"""The one clock: virtual time is instant, ordered and deterministic."""

import threading
import time

import pytest

from rig.clock import EMPTY, Deadlock, MonotonicClock, VirtualClock


def _story(clock):
    log = []
    ch = clock.channel()

    def worker(n):
        for i in range(3):
            clock.sleep(0.5 * n)
            log.append((clock.now(), f"w{n}", i))
        ch.put(n)

    def consumer():
        got = 0
        while got < 2:
            item = ch.get(until=clock.now() + 0.3)
            log.append((clock.now(), "c", item))
            got += item is not EMPTY

    tasks = [clock.spawn(worker, 1, name="w1"), clock.spawn(worker, 2, name="w2"),
             clock.spawn(consumer, name="c")]
    for t in tasks:
        t.join()
    return log


def test_virtual_time_runs_in_order_and_jumps():
    clock = VirtualClock()
    log = _story(clock)
    assert clock.now() == pytest.approx(3.0)
    times = [t for t, _, _ in log]
    assert times == sorted(times)
    assert (1.5, "c", 1) in log and (3.0, "c", 2) in log
    # The consumer timed out every 0.3 s between messages.
    assert [round(t, 6) for t, who, x in log if who == "c" and x is EMPTY][:3] == [0.3, 0.6, 0.9]


def test_virtual_runs_are_identical():
    assert _story(VirtualClock()) == _story(VirtualClock())


def test_sleep_until_is_absolute():
    clock = VirtualClock(start=10.0)
    clock.sleep_until(12.5)
    clock.sleep_until(11.0)  # in the past: returns at once
    assert clock.now() == 12.5


def test_deadlock_is_raised_instead_of_hanging():
    clock = VirtualClock()
    with pytest.raises(Deadlock):
        clock.channel().get()


def test_actor_failure_reaches_the_main_actor():
    clock = VirtualClock()

    def bad():
        clock.sleep(1.0)
        raise ValueError("boom")

    clock.spawn(bad, name="bad")
    with pytest.raises(RuntimeError, match="boom"):
        clock.sleep(5.0)


def test_join_returns_result_and_flag_waits():
    clock = VirtualClock()
    flag = clock.flag()

    def setter():
        clock.sleep(2.0)
        flag.set()
        return 42

    task = clock.spawn(setter, name="setter")
    assert flag.wait(until=1.0) is False
    assert flag.wait() is True and clock.now() == 2.0
    assert task.join() is True and task.result == 42


def test_only_one_actor_runs_at_a_time():
    clock = VirtualClock()
    inside = []
    lock = threading.Lock()

    def busy(n):
        for _ in range(50):
            assert lock.acquire(blocking=False), "two actors ran at once"
            inside.append(n)
            lock.release()
            clock.sleep(0.001 * n)

    tasks = [clock.spawn(busy, n, name=f"b{n}") for n in (1, 2, 3)]
    for t in tasks:
        t.join()
    assert len(inside) == 150


def test_monotonic_channel_times_out_and_delivers():
    clock = MonotonicClock()
    ch = clock.channel()
    assert ch.get(until=clock.now() + 0.01) is EMPTY
    clock.spawn(lambda: ch.put("x"), name="putter")
    assert ch.get(until=clock.now() + 5.0) == "x"
    start = time.monotonic()
    clock.sleep_until(start - 1)  # past deadline: no wait
    assert time.monotonic() - start < 0.5
