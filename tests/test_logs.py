"""rig.logs: a queue between the loggers and stderr, and journald's format.

libgphoto2's own messages, and ``rig run``'s output under a journal stream,
are tested with the real library in tests/test_libgphoto2.py.
"""

import io
import logging
import os
import re
import threading
from pathlib import Path

from rig.logs import RepeatFilter, start_logging

GUARD_S = 30.0   # only turns a hang into a failure; nothing is timed


class StalledOutput(io.StringIO):
    """A stream whose writes wait until it is released (a journal that does not read)."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.released = threading.Event()

    def write(self, text):
        self.entered.set()
        assert self.released.wait(GUARD_S), "never released"
        return super().write(text)


def test_a_stalled_output_never_holds_up_the_thread_that_logs():
    out = StalledOutput()
    logs = start_logging(logging.INFO, stream=out, environ={}, capacity=50, gphoto2=False)
    log = logging.getLogger("rig.test")
    try:
        log.info("message 0")
        assert out.entered.wait(GUARD_S)        # the listener now waits inside write()
        done = threading.Event()

        def timing_thread():                     # as the lens worker logs mid-pull
            for i in range(1, 201):
                log.info("message %d", i)
            done.set()

        threading.Thread(target=timing_thread, daemon=True).start()
        # All 200 calls return while the output is still stalled.
        assert done.wait(GUARD_S) and not out.released.is_set()
    finally:
        out.released.set()
        logs.stop()
    lines = [line.split(" rig.test: ")[-1] if "rig.test" in line else line
             for line in out.getvalue().splitlines()]
    # 50 fitted in the queue; the 150 that did not are counted and said, in order.
    assert lines[0] == "message 0"
    assert lines[1].endswith("rig.logs: 150 log messages dropped: the log output could not "
                             "keep up")
    assert lines[2:] == [f"message {i}" for i in range(1, 51)]
    assert logging.getLogger().handlers.count(logs.handler) == 0   # stop() undid it


def _log_to_file(path, environ):
    with open(path, "w") as stream:
        logs = start_logging(logging.INFO, stream=stream, environ=environ, gphoto2=False)
        log = logging.getLogger("rig.test")
        log.warning("careful: %s", "the lens")
        log.debug("not shown at INFO")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("it failed")
        logs.stop()
    return logs.journal, Path(path).read_text().splitlines()


def test_under_systemd_journald_stamps_the_time_and_reads_the_priority(tmp_path):
    path = tmp_path / "stderr"
    path.touch()
    st = os.stat(path)
    journal, lines = _log_to_file(path, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert journal
    assert lines[0] == "<4>WARNING rig.test: careful: the lens"
    assert lines[1] == "<3>ERROR rig.test: it failed"
    assert lines[2] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>ValueError: bad"
    assert all(line.startswith("<3>") for line in lines[1:])


def test_in_a_terminal_each_line_has_its_time(tmp_path):
    other = tmp_path / "elsewhere"
    other.touch()
    st = os.stat(other)
    # JOURNAL_STREAM inherited, but stderr was redirected: not the journal.
    journal, lines = _log_to_file(tmp_path / "stderr",
                                  {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not journal
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING rig\.test: "
                        r"careful: the lens", lines[0])
    assert "<" not in lines[0]


def test_a_message_said_again_and_again_is_logged_once_per_window_with_a_count():
    now = [1000.0]
    records = []
    log = logging.getLogger("test.repeats")
    log.propagate = False
    log.addHandler(type("Keep", (logging.Handler,), {
        "emit": lambda self, r: records.append(r.getMessage())})())
    log.addFilter(RepeatFilter(300.0, now=lambda: now[0]))
    for _ in range(151):                       # every 2 s, as while the camera is missing
        log.warning("(gp_context_error) Could not detect any camera")
        log.warning("(gp_port_set_error) The port has not yet been initialized")
        now[0] += 2.0
    assert records == [
        "(gp_context_error) Could not detect any camera",
        "(gp_port_set_error) The port has not yet been initialized",
        "(gp_context_error) Could not detect any camera (said 149 more times in the last 300 s)",
        "(gp_port_set_error) The port has not yet been initialized (said 149 more times in "
        "the last 300 s)",
    ]
