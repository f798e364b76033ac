"""Calibration progress on the command line, and Ctrl-C in the middle of it."""

import io
import signal
import sys

from rig.cli import main
from rig.progress import ProgressLine, estimate, time_left
from rig.sim import DEFAULT_PROFILE


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_the_time_left_reads_as_a_person_says_it():
    assert time_left(3) == "about 5 s left"
    assert time_left(42) == "about 45 s left"
    assert time_left(61) == "about 2 min left"
    assert time_left(3 * 3600 + 300) == "about 3 h 5 min left"


def test_without_an_eta_the_time_left_is_estimated_from_the_pace():
    assert estimate(0.25, 60.0) == 180.0
    assert estimate(0.01, 60.0) is None        # too little done to say
    assert estimate(0.5, 1.0) is None          # too soon to say


def test_a_terminal_gets_one_line_rewritten_in_place():
    clock, out = Clock(), Tty()
    line = ProgressLine(out, now=clock)
    line.update("reference sweep", 0.0)
    clock.t = 30.0
    line.update("reference sweep", 0.10)                       # the old, two-argument call
    clock.t = 40.0
    line.update("size 3 sweep", 0.62, eta_s=250.0)             # the calibration's own eta
    line.done()
    frames = out.getvalue().split("\r")[1:]
    assert frames[0].startswith("calibrating: reference sweep      0 %   estimating")
    assert frames[1].rstrip() == "calibrating: reference sweep     10 %   about 5 min left"
    assert frames[2].rstrip() == "calibrating: size 3 sweep        62 %   about 5 min left"
    assert out.getvalue().endswith("\n") and "\n" not in out.getvalue()[:-1]


def test_a_log_gets_a_line_a_phase_and_every_ten_percent():
    clock, out = Clock(), io.StringIO()
    line = ProgressLine(out, now=clock)
    for i in range(101):
        clock.t = i * 5.0
        line.update("sweep" if i < 55 else "check", i / 100)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 + 1                 # 0..100 % by tens, and the new phase at 55 %
    assert lines[6].startswith("calibrating: check") and " 55 %" in lines[6]


def test_quiet_shows_nothing():
    out = Tty()
    ProgressLine(out, quiet=True).update("sweep", 0.5)
    assert out.getvalue() == ""


class _CtrlCAtFirstLine(io.StringIO):
    """stderr whose reader presses Ctrl-C (a real SIGINT) once the first progress line
    is out, whatever the machine's load (a subprocess signalled after the test read
    that line once did not answer within 60 s on a loaded machine)."""

    pressed = False

    def write(self, text):
        n = super().write(text)
        if text.startswith("calibrating: ") and not self.pressed:
            self.pressed = True
            signal.raise_signal(signal.SIGINT)
        return n


def test_ctrl_c_stops_a_calibration_cleanly_and_saves_nothing(tmp_path, monkeypatch, capsys):
    """rig calibrate on the simulator (virtual time), interrupted at its first progress
    line: no traceback, exit 130, the state directory as it was."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "sequence.json").write_text('{"version": 1, "lens": "", "points": []}\n')
    before = {p.name: p.read_bytes() for p in state.rglob("*")}
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    err = _CtrlCAtFirstLine()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("COLUMNS", "100")
    try:
        rc = main(["calibrate", "--camera", f"sim:{DEFAULT_PROFILE.name}",
                   "--state-dir", str(state)])
    finally:
        signal.signal(signal.SIGINT, handler)
    assert err.pressed and rc == 130, err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert err.getvalue().strip().splitlines()[-1] == (
        "rig: calibration stopped (Ctrl-C): nothing was saved, the saved lens profiles are "
        "as they were; the lens stays where it stopped")
    assert capsys.readouterr().out == ""
    assert {p.name: p.read_bytes() for p in state.rglob("*")} == before
