"""The repository itself: no merge left half done."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_conflict_markers_are_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:          # not a git checkout (a tarball): nothing to check
        return
    bad = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        bad += [f"{name}:{i}" for i, line in enumerate(lines, 1)
                if line.startswith(("<<<<<<< ", ">>>>>>> "))]
    assert not bad, bad
