"""`rig run` as systemd runs it: READY, watchdog pings, status, a clean stop."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

FAST = """\
vendor = "canon"
lens = "Fast test lens"
steps = 60
start = 40
latency_ms = 2
latency_jitter_ms = 0
preview_ms = 2
seed = 3
[drive.1]
steps = 1.0
speed = 500.0
[drive.2]
steps = 3.0
speed = 1000.0
[drive.3]
steps = 10.0
speed = 2000.0
[scene]
subject = 30
blur_per_step = 0.2
"""


def test_rig_run_talks_to_systemd_and_stops_cleanly(tmp_path):
    profile = tmp_path / "fast.toml"
    profile.write_text(FAST)
    state = tmp_path / "state"
    (state / "lenses").mkdir(parents=True)
    # A known lens: the service homes instead of calibrating (seconds, not minutes).
    cal = {"lens": "Fast test lens", "camera": "Canon EOS 5D Mark III (simulated)",
           "steps": 60, "drive": [{"size": 1, "steps": 1, "speed": 400},
                                  {"size": 2, "steps": 3, "speed": 800},
                                  {"size": 3, "steps": 10, "speed": 1600}]}
    (state / "lenses" / "canon-eos-5d-mark-iii-simulated--fast-test-lens.json").write_text(
        json.dumps(cal))
    config = tmp_path / "rig.toml"
    config.write_text(f'[state]\ndir = "{state}"\n[display]\ndriver = "none"\n'
                      '[web]\nhost = "127.0.0.1"\nport = 0\n')
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20.0)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="400000",
               GPIOZERO_PIN_FACTORY="mock")
    rig = Path(sys.executable).parent / "rig"
    proc = subprocess.Popen([str(rig), "run", "--config", str(config), "--camera",
                             f"sim:{profile}"], env=env, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        while not (any(m == "WATCHDOG=1" for m in seen)
                   and any(m.startswith("STATUS=play") for m in seen)):
            seen += sock.recv(4096).decode().split("\n")
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in seen:
            seen += sock.recv(4096).decode().split("\n")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert seen.index("READY=1") < seen.index("WATCHDOG=1")
    assert any(m.startswith("STATUS=") for m in seen)
