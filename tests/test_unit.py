"""systemd/rig.service passes systemd's own checks and stays hardened.

The unit is laid out on a staging root (bench/unit_security.py explains why);
``make unit-check`` prints the full security table.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import unit_security  # noqa: E402

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package: systemd)")


@needs_analyze
def test_verify_is_silent(tmp_path):
    result = unit_security.verify(unit_security.stage_root(tmp_path))
    assert (result.returncode, result.output) == (0, "")


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check itself can fail: a typo and a missing ExecStart are reported.

    verify exits 0 on a value it cannot parse (it ignores the line, as systemd
    would at boot), which is why a clean unit means no output at all.
    """
    broken = tmp_path / "rig.service"
    broken.write_text(unit_security.UNIT.read_text()
                      .replace("ProtectSystem=strict", "ProtectSystem=strickt"))
    result = unit_security.verify(unit_security.stage_root(tmp_path / "root", broken))
    assert "Failed to parse protect system value, ignoring: strickt" in result.output
    result = unit_security.verify(
        unit_security.stage_root(tmp_path / "bare", stub_exec=False))
    assert result.returncode != 0 and "/opt/rig/venv/bin/rig" in result.output


@needs_analyze
def test_security_score_is_at_most_3(tmp_path, capsys):
    result, score = unit_security.security(unit_security.stage_root(tmp_path))
    with capsys.disabled():
        print(f"\nsystemd-analyze security --offline=yes rig.service: {score:.1f} "
              f"(limit {unit_security.MAX_SCORE})")
    assert result.returncode == 0
    assert score <= unit_security.MAX_SCORE, result.output
    # A key systemd does not know would be ignored silently by the score.
    assert "ignoring" not in result.output, result.output


def test_the_unit_keeps_what_the_hardware_needs():
    """The lines whose absence would not lower the score but would break the rig."""
    lines = {line.strip() for line in unit_security.UNIT.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")}
    for needed in ("Type=notify", "NotifyAccess=main", "User=rig",
                   "SupplementaryGroups=gpio i2c plugdev", "WorkingDirectory=/run/rig",
                   "Environment=LG_WD=/run/rig", "DeviceAllow=char-gpiochip rw",
                   "DeviceAllow=char-i2c rw", "DeviceAllow=char-usb_device rw",
                   "ExecStart=/opt/rig/venv/bin/rig run --config /etc/rig/rig.toml"):
        assert needed in lines, needed
    for breaks in ("PrivateDevices=yes", "PrivateUsers=yes", "ProcSubset=pid",
                   "PrivateNetwork=yes"):
        assert breaks not in lines, breaks


# Sets the kernel's own write-xor-execute policy (Linux 6.3+), which refuses
# what MemoryDenyWriteExecute= refuses, then becomes the probe.
_MDWE_LAUNCHER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:        # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""

_MDWE_PROBE = """
import ctypes, mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("write+execute memory was allowed: the policy is not in force")
except PermissionError:
    pass
assert ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)() == 7   # libffi closures (smbus2 imports ctypes)
import numpy, gphoto2, gpiozero, smbus2, luma.oled.device
abilities = gphoto2.CameraAbilitiesList()
abilities.load()                                          # dlopens every libgphoto2 camlib
assert abilities.count() > 100
from rig.display import stopped_screen
stopped_screen().convert("1")
print(float(numpy.linalg.inv(numpy.eye(3) + 1).sum()), "ok")
"""


def test_the_rig_runs_without_writable_executable_memory(tmp_path):
    """MemoryDenyWriteExecute=yes: no JIT in CPython, numpy, Pillow or libgphoto2."""
    proc = subprocess.run([sys.executable, "-c", _MDWE_LAUNCHER, sys.executable, "-c",
                           _MDWE_PROBE], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
