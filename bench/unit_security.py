"""``make unit-check``: systemd's own verdict on ``systemd/rig.service``.

Prints what ``systemd-analyze verify`` says (nothing, when the unit is clean)
and the full ``systemd-analyze security --offline=yes`` table with its
exposure score (0 = locked down, 10 = exposed; the project requires <= 3.0).

Both run on a staging root, as the installer would lay it out: the unit in
``etc/systemd/system``, a stand-in ``/opt/rig/venv/bin/rig`` (verify refuses
a unit whose ExecStart does not exist, and the real one only exists on an
installed Pi), and a copy of this machine's own unit directory, so that the
default dependencies (sysinit.target, basic.target, ...) resolve under
``--root``.  tests/test_unit.py uses the same functions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "rig.service"
EXEC_START = "opt/rig/venv/bin/rig"
SYSTEM_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
MAX_SCORE = 3.0


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str          # stdout and stderr, as a person would see them


def stage_root(root: Path, unit: Path = UNIT, *, stub_exec: bool = True) -> Path:
    """Lay ``unit`` out under ``root`` for ``--root=``; returns ``root``."""
    target = root / "etc" / "systemd" / "system" / unit.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(unit, target)
    host_units = next((d for d in SYSTEM_UNIT_DIRS if d.is_dir()), None)
    if host_units is None:
        raise RuntimeError("no systemd unit directory on this machine "
                           f"({' or '.join(map(str, SYSTEM_UNIT_DIRS))})")
    staged_units = root / "usr" / "lib" / "systemd" / "system"
    if not staged_units.exists():
        shutil.copytree(host_units, staged_units, symlinks=True)
    if stub_exec and not (root / EXEC_START).exists():
        stub = root / EXEC_START
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n# stand-in for the installed rig, for systemd-analyze\n")
        stub.chmod(0o755)
    return root


def _analyze(*args: str) -> Result:
    proc = subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                          timeout=60)
    return Result(proc.returncode, (proc.stdout + proc.stderr).strip())


def verify(root: Path, name: str = UNIT.name) -> Result:
    """``systemd-analyze verify``: clean means exit 0 and not a word of output."""
    return _analyze("verify", f"--root={root}", name)


def security(root: Path, name: str = UNIT.name) -> tuple[Result, float]:
    """The security table and its overall exposure score."""
    result = _analyze("security", "--offline=yes", f"--root={root}", name)
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.output)
    if match is None:
        raise RuntimeError(f"no exposure score in systemd-analyze's output:\n{result.output}")
    return result, float(match.group(1))


def main() -> int:
    if shutil.which("systemd-analyze") is None:
        print("unit-check: systemd-analyze is not installed (Debian package: systemd)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rig-unit-") as tmp:
        root = stage_root(Path(tmp))
        checked = verify(root)
        print(f"systemd-analyze verify {UNIT.relative_to(REPO)}: "
              + ("clean" if checked.returncode == 0 and not checked.output
                 else f"exit {checked.returncode}\n{checked.output}"))
        table, score = security(root)
        print(table.output)
        verdict = "OK" if score <= MAX_SCORE else f"TOO HIGH (limit {MAX_SCORE})"
        print(f"exposure score: {score:.1f} {verdict}")
    return 0 if checked.returncode == 0 and not checked.output and score <= MAX_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
