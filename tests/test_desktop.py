"""The desktop preview under Xvfb: a real window, a screenshot, real key presses.

``rig run --camera sim:... --display pygame`` runs in a subprocess on a
virtual X server.  The screenshot of its window, shrunk back to 128x64, must
be exactly what the renderer draws for the state the rig is in.  Where
``xdotool`` exists, keys are typed into the window as a person would.

Needs the ``xvfb`` package (``apt install xvfb``; ``xdotool`` for the keys):
without it these tests are skipped and say so.  The Python side (pygame,
luma.emulator) comes with ``make test``.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from rig.config import load_config
from rig.display import HEIGHT, WIDTH, View, render
from rig.distance import min_focus
from rig.sequencer import Activity, Mode, Point, initial_state
from rig.sim import DEFAULT_PROFILE, known_calibration, load_profile
from rig.store import Store

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("Xvfb") is None,
                                 reason="Xvfb is not installed (apt install xvfb): the desktop "
                                        "preview is tested where it is")]
SCALE = 4
POINTS = (Point(120), Point(300, 2.0))


def _grab(display):
    from PIL import ImageGrab
    return ImageGrab.grab(xdisplay=display)


def _oled(shot):
    """The window's picture (at the screen's top left) shrunk back to the OLED's pixels,
    or None while the screen is still black."""
    crop = shot.convert("L").crop((0, 0, WIDTH * SCALE, HEIGHT * SCALE))
    if crop.getbbox() is None:
        return None
    return crop.resize((WIDTH, HEIGHT), resample=0).point(lambda v: 255 if v > 127 else 0)


def _expected(mode, root):
    """The renderer's picture of the rig at point 1 in ``mode``, with the lens model the
    preview calibrated for itself (in ``root``'s store); None until it has one."""
    config = load_config()
    profile = load_profile(DEFAULT_PROFILE)
    calibration = Store(root / "state").load_calibration(profile.model, profile.lens)
    if calibration is None:
        return None
    state = initial_state(POINTS, config.ui, config.bindings)
    state = replace(state, mode=mode, activity=Activity.IDLE, position=120,
                    model=calibration.model())
    # A lens rig knows (the EF 24mm f/2.8 IS): the estimated distance shows too.
    return render(View(state, 0.0, min_focus_m=min_focus(calibration))).convert("L")


def _wait_for(display, proc, expected, seconds):
    """The window's picture once it shows ``expected()`` (or the last one after ``seconds``).

    Between two looks it waits on the rig's process, so a rig that dies ends the wait.
    """
    from PIL import ImageChops
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = _oled(_grab(display))
        want = expected()
        if last is not None and want is not None and \
                ImageChops.difference(last, want).getbbox() is None:
            return last
        try:
            proc.wait(timeout=0.2)
            return last
        except subprocess.TimeoutExpired:
            pass
    return last


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    pytest.importorskip("luma.emulator")
    root = tmp_path_factory.mktemp("preview")
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x400x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        display = ":" + f.readline().strip()
    Store(root / "state").save_sequence(POINTS, "L")
    # The lens known already (a first run calibrates it in virtual time: 10 s more).
    Store(root / "state").save_calibration(known_calibration(load_profile(DEFAULT_PROFILE)))
    config = root / "rig.toml"
    config.write_text(f'[state]\ndir = "{root / "state"}"\n[web]\nhost = "127.0.0.1"\nport = 0\n')
    rig = Path(sys.executable).parent / "rig"
    log = open(root / "rig.log", "w")
    proc = subprocess.Popen([str(rig), "run", "--camera", f"sim:{DEFAULT_PROFILE}",
                             "--display", "pygame", "--config", str(config)],
                            env={**os.environ, "DISPLAY": display, "SDL_AUDIODRIVER": "dummy",
                                 "SDL_VIDEO_WINDOW_POS": "0,0"},
                            stdout=log, stderr=subprocess.STDOUT)
    yield display, proc, root
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    log.close()
    xvfb.terminate()
    xvfb.wait(timeout=10)


def test_the_window_shows_the_rig_in_play(preview):
    display, proc, root = preview
    got = _wait_for(display, proc, lambda: _expected(Mode.PLAY, root), 90)
    shot = _grab(display)
    shot.save(root / "screenshot.png")
    assert proc.poll() is None, (root / "rig.log").read_text()
    assert got is not None, "no window on the screen"
    from PIL import ImageChops
    assert ImageChops.difference(got, _expected(Mode.PLAY, root)).getbbox() is None, \
        f"the window does not show the play screen: see {root / 'screenshot.png'}"


@pytest.mark.skipif(shutil.which("xdotool") is None,
                    reason="xdotool is not installed (apt install xdotool): no keys typed")
def test_keys_press_the_buttons_and_escape_stops_rig(preview):
    display, proc, root = preview
    env = {**os.environ, "DISPLAY": display}
    window = subprocess.run(["xdotool", "search", "--class", "rig"], env=env,
                            capture_output=True, text=True).stdout.split()
    assert window, "the preview window is not there"
    subprocess.run(["xdotool", "windowfocus", "--sync", window[-1]], env=env, check=True)
    from PIL import ImageChops
    # A twice: play -> inactive -> edit, each press once its screen is up.
    for mode in (Mode.INACTIVE, Mode.EDIT):
        subprocess.run(["xdotool", "key", "a"], env=env, check=True)
        got = _wait_for(display, proc, lambda m=mode: _expected(m, root), 10)
        assert ImageChops.difference(got, _expected(mode, root)).getbbox() is None, mode
    subprocess.run(["xdotool", "key", "Escape"], env=env, check=True)
    assert proc.wait(timeout=20) == 0
