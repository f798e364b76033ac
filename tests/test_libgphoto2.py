"""The real libgphoto2: the virtual camera bundled in the gphoto2 wheel.

``VCAMERADIR`` must be set before ``import gphoto2`` and a process may make
at most 26 captures, so every story runs in its own subprocess.  The virtual
camera ("Nikon DSC D750" on autodetect, "GP VC" in its summary) has a config
tree but no ``manualfocusdrive``, no ``capture_preview`` and no ``lensname``:
it is the real library answering "this camera cannot drive focus".
"""

import json
import os
import re
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
    """As under systemd: the notify socket, and stderr a journal stream (rig.logs)."""
    config = tmp_path / "rig.toml"
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[display]\ndriver = "none"\n'
                      '[web]\nhost = "127.0.0.1"\nport = 0\n')
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30.0)
    read, write = os.pipe()
    st = os.fstat(write)
    env = dict(vcamera, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="400000",
               JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    proc = subprocess.Popen([str(RIG), "run", "--config", str(config), "--camera", "usb"],
                            env=env, stderr=write)
    os.close(write)
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
    with os.fdopen(read) as stderr:
        lines = stderr.read().splitlines()
    # journald's format: a priority on every line, no time (journald adds it) ...
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), lines
    assert not any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines)
    assert "<6>INFO rig.service: rig running" in "\n".join(lines)
    assert any(line.startswith("<3>ERROR rig.worker: lens: GP VC offers no focus drive")
               and "cannot drive focus over USB" in line for line in lines)
    # ... and libgphoto2's own messages among rig's
    assert any(line.startswith("<6>INFO gphoto2: (gp_camera_get_single_config")
               for line in lines)


def test_libgphoto2_messages_arrive_as_python_records(vcamera):
    """rig.logs: libgphoto2 logs through Python logging, at rig's levels, repeats held back."""
    out = _python(vcamera, """
        import json, logging, gphoto2 as gp
        from rig.logs import start_logging
        records = []
        class Keep(logging.Handler):
            def emit(self, r):
                records.append([r.name, r.levelname, r.getMessage()])
        logging.getLogger().addHandler(Keep())
        out = {}
        for verbosity in (0, 2):
            records.clear()
            logs = start_logging(logging.DEBUG, verbosity=verbosity, environ={})
            camera = gp.Camera()
            camera.init()
            for _ in range(3):      # a config name this camera lacks, asked three times
                try:
                    camera.get_single_config("manualfocusdrive")
                except gp.GPhoto2Error:
                    pass
            camera.exit()
            logs.stop()
            out[verbosity] = list(records)
        print(json.dumps(out))
    """)
    quiet, chatty = out["0"], out["2"]
    failed = [r for r in quiet if "get_single_config" in r[2]]
    # libgphoto2's error, as INFO on the gphoto2 logger, once: the repeats are held back.
    assert len(failed) == 1 and failed[0][:2] == ["gphoto2", "INFO"]
    assert "failed: -2" in failed[0][2]
    assert all(r[1] != "DEBUG" for r in quiet if r[0] == "gphoto2")
    # -vv: libgphoto2's debug level too (what it does to open the port, ...)
    assert sum(r[:2] == ["gphoto2", "DEBUG"] for r in chatty) >= 10


def test_rig_doctor_on_the_virtual_camera(vcamera, tmp_path):
    """Found, no focus drive (with the reason), no live view; the rest skipped."""
    config = tmp_path / "rig.toml"
    config.write_text('[display]\ndriver = "none"\n[web]\nhost = "127.0.0.1"\nport = 0\n')
    done = subprocess.run([str(RIG), "doctor", "--camera", "usb", "--config", str(config),
                           "--state-dir", str(tmp_path / "state"), "--json"],
                          env=vcamera, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    out = json.loads(done.stdout)
    v = {x["check"]: (x["status"], x["text"], x["fix"]) for x in out["verdicts"]}
    assert out["ok"] is False
    assert v["camera"] == ("ok", "GP VC", "")
    assert v["lens"][0] == "warn" and "does not say which lens" in v["lens"][1]
    assert v["drive"] == ("FAIL", "GP VC offers no focus drive rig can use (no "
                                  "manualfocusdrive or manualfocus config): this camera "
                                  "cannot drive focus over USB",
                          "rig needs a camera with a USB focus drive: Canon EOS, Nikon, "
                          "Sony, Fuji, Olympus or Panasonic (docs/operating.md)")
    assert v["live view"][:2] == ("FAIL", "this camera gives no live view over USB "
                                          "(libgphoto2 says [-6] Unsupported operation)")
    assert v["calibration"] == ("skip", "needs a camera with a focus drive", "")
    assert v["lens on AF"] == ("skip", "needs a camera with a focus drive", "")
    assert v["GPIO"] == ("ok", "8 pins free, none pressed", "")


def test_rig_doctor_prints_readable_verdicts_on_the_virtual_camera(vcamera, tmp_path):
    config = tmp_path / "rig.toml"
    config.write_text('[display]\ndriver = "none"\n[web]\nhost = "127.0.0.1"\nport = 0\n')
    done = subprocess.run([str(RIG), "doctor", "--camera", "usb", "--config", str(config),
                           "--state-dir", str(tmp_path / "state")],
                          env=dict(vcamera, COLUMNS="50"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "ok   camera: GP VC" in lines
    assert "FAIL drive: GP VC offers no focus drive rig can" in lines
    assert all(len(line) <= 50 or len(line.split()) == 1 for line in lines)
    # drive and live view; the service verdict depends on the host running systemd
    assert re.fullmatch(r"FAILED: [23] failed, 1 to look at, \d ok, \d skipped", lines[-1])
