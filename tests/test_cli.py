"""The command line as a new user meets it: the README's commands work as written."""

import logging
import os
import signal
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from gpiozero import Device

from rig import __version__
from rig.buttons import Buttons
from rig.cli import camera_spec, main
from rig.clock import VirtualClock
from rig.inputs import InputError
from rig.sim import PROFILES, known_calibration, load_profile
from rig.store import Store

RIG = Path(sys.executable).parent / "rig"


def test_version_answers(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"rig {__version__} (gphoto2 ")
    assert __version__ == version("rig")
    assert "libgphoto2 2." in out and "luma.oled" in out and "Python 3." in out


def test_a_shipped_profile_is_found_by_its_name(tmp_path):
    assert camera_spec("sim:canon-ef24.toml") == f"sim:{PROFILES / 'canon-ef24.toml'}"
    assert camera_spec("sim:canon-ef24") == f"sim:{PROFILES / 'canon-ef24.toml'}"
    mine = tmp_path / "canon-ef24.toml"            # a file of that name wins where it is
    mine.write_text("x")
    assert camera_spec(f"sim:{mine}") == f"sim:{mine}"
    assert camera_spec("usb") == "usb"
    with pytest.raises(InputError) as refused:
        camera_spec("sim:canon-ef25.toml")
    shipped = ", ".join(sorted(p.name for p in PROFILES.glob("*.toml")))
    assert str(refused.value) == ("canon-ef25.toml: no such file, and no profile of that name "
                                  f"ships with rig ({shipped})")


def test_demo_refuses_a_real_camera_in_one_line(tmp_path, capsys):
    assert main(["demo", "--camera", "usb", "--out", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rig: error: --camera: demo runs on the simulator: sim:PROFILE.toml, "
                   "got 'usb'"]
    assert not (tmp_path / "demo").exists()


def test_without_gpio_the_buttons_are_off_in_one_line(monkeypatch, caplog):
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # not one warning reaches stderr
        buttons = Buttons.or_none({"thumb": 12}, lambda e: None, VirtualClock())
    assert buttons is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "no GPIO on this machine: running with the buttons off (rig run --display pygame "
        "puts them on the keyboard)"]


def test_rig_run_on_a_desktop_keeps_running_until_stopped(tmp_path):
    """The README's try-it command, on a machine without GPIO: it says so in one line,
    runs (homes the simulated lens, which it calibrates in virtual time first) until
    SIGTERM, and writes only into the simulator's own state directory."""
    config = tmp_path / "rig.toml"
    config.write_text('[web]\nhost = "127.0.0.1"\nport = 0\n')   # leave 8080 alone
    # The lens known already, as after a first run (which calibrates it in virtual
    # time, ten seconds more): the simulator's own state directory.
    profile = load_profile(PROFILES / "canon-ef24.toml")
    Store(tmp_path / "xdg" / "rig-sim").save_calibration(known_calibration(profile))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPIOZERO")}
    env.update(XDG_STATE_HOME=str(tmp_path / "xdg"), NOTIFY_SOCKET="")
    proc = subprocess.Popen([str(RIG), "run", "--camera", "sim:canon-ef24.toml",
                             "--display", "none", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "homed in" in line:
                break
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "Traceback" not in log and "Warning" not in log, log
    assert [line.split(" ", 3)[3] for line in log.splitlines() if " WARNING " in line] == [
        "rig.buttons: no GPIO on this machine: running with the buttons off (rig run "
        "--display pygame puts them on the keyboard)"]
    assert "simulator: state in " + str(tmp_path / "xdg" / "rig-sim") in log
    assert (tmp_path / "xdg" / "rig-sim" / "web-token").is_file()
    assert not (tmp_path / "xdg" / "rig").exists()           # the real rig's stays untouched
