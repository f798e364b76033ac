"""The real libgphoto2: the virtual camera bundled in the gphoto2 wheel.

``VCAMERADIR`` must be set before ``import gphoto2`` and a process may make
at most 26 captures, so every story runs in its own subprocess.  The virtual
camera ("Nikon DSC D750" on autodetect, "GP VC" in its summary) has a config
tree but no ``manualfocusdrive``, no ``capture_preview`` and no ``lensname``:
it is the real library answering "this camera cannot drive focus".
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

RIG = Path(sys.executable).parent / "rig"


@pytest.fixture
def vcamera(tmp_path):
    folder = tmp_path / "vcamera"
    folder.mkdir()
    Image.new("RGB", (64, 48), (180, 90, 40)).save(folder / "shot.jpg")
    return dict(os.environ, VCAMERADIR=str(folder), GPIOZERO_PIN_FACTORY="mock")


def _python(env, code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_detects_the_virtual_camera_and_says_it_cannot_drive_focus(vcamera):
    out = _python(vcamera, """
        import json, gphoto2 as gp
        from rig.clock import MonotonicClock
        from rig.lens import Lens, LensError
        found = [name for name, port in gp.Camera.autodetect()]
        lens = Lens(gp.Camera(), MonotonicClock())
        try:
            lens.connect()
            error = None
        except LensError as exc:
            error = str(exc)
        print(json.dumps({"found": found, "model": lens.camera_model, "error": error}))
    """)
    assert out["found"] == ["Nikon DSC D750"]
    assert out["model"] == "VC" and out["error"].startswith("GP VC offers no focus drive")
    assert "cannot drive focus over USB" in out["error"]
    assert "no manualfocusdrive or manualfocus config" in out["error"]


def test_exit_then_a_new_camera_object_reconnects(vcamera):
    out = _python(vcamera, """
        import json, gphoto2 as gp
        from rig.clock import MonotonicClock
        from rig.lens import Lens, LensError
        models = []
        for attempt in range(3):          # each attempt: a new gp.Camera, init, exit
            lens = Lens(gp.Camera(), MonotonicClock())
            try:
                lens.connect()
            except LensError:
                pass
            models.append(lens.camera_model)
            lens.close()
        # and the library still answers after all of that
        camera = gp.Camera()
        camera.init()
        summary = camera.get_summary().text
        camera.exit()
        print(json.dumps({"models": models, "summary": summary.splitlines()[:2]}))
    """)
    assert out["models"] == ["VC"] * 3
    assert out["summary"] == ["Manufacturer: GP", "Model: VC"]


def test_the_app_keeps_running_and_retries_with_new_sessions(vcamera):
    """The whole app on the real library: a clear fault, a new Camera per retry."""
    out = _python(vcamera, """
        import json, logging, gphoto2 as gp
        from rig.app import App, load_state
        from rig.clock import VirtualClock
        from rig.config import load_config
        from rig.display import View, screen_text
        from rig.store import Store
        import tempfile
        records = []
        logging.basicConfig(level=logging.INFO)
        logging.getLogger().addHandler(type("H", (logging.Handler,), {
            "emit": lambda self, r: records.append(r.getMessage())})())
        opened = []
        def open_camera():
            opened.append(gp.Camera())
            return opened[-1]
        clock = VirtualClock()
        store = Store(tempfile.mkdtemp())
        app = App(clock, open_camera, store, state=load_state(store, load_config().ui))
        app.start()
        clock.sleep(35)
        state = app.state
        words = " ".join(screen_text(View(state, clock.now())))
        app.stop()
        print(json.dumps({"activity": state.activity.value, "message": state.message,
                          "screen": words, "sessions": len(opened),
                          "distinct": len({id(c) for c in opened}),
                          "logged": sum("cannot drive focus" in r for r in records)}))
    """)
    assert out["activity"] == "fault"
    assert "cannot drive focus" in out["message"] and "PROBLEM" in out["screen"]
    assert out["sessions"] >= 3 and out["distinct"] == out["sessions"]
    assert out["logged"] == 1


def test_rig_calibrate_on_the_virtual_camera_exits_1_with_the_reason(vcamera, tmp_path):
    config = tmp_path / "rig.toml"
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n')
    done = subprocess.run([str(RIG), "calibrate", "--config", str(config), "--camera", "usb"],
                          env=vcamera, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "cannot drive focus over USB" in done.stderr
    assert "Traceback" not in done.stderr


def test_rig_run_on_the_virtual_camera_stays_up_and_says_why(vcamera, tmp_path):
    config = tmp_path / "rig.toml"
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[display]\ndriver = "none"\n')
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30.0)
    env = dict(vcamera, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="400000")
    proc = subprocess.Popen([str(RIG), "run", "--config", str(config), "--camera", "usb"],
                            env=env, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        while not any(m.startswith("STATUS=problem") for m in seen):
            seen += sock.recv(4096).decode().split("\n")
        pings = seen.count("WATCHDOG=1")
        while seen.count("WATCHDOG=1") < pings + 3:      # still alive after the fault
            seen += sock.recv(4096).decode().split("\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    status = next(m for m in seen if m.startswith("STATUS=problem"))
    assert "cannot drive focus over USB" in status
    assert "cannot drive focus over USB" in proc.stderr.read()
