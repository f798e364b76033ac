"""Machine state on disk: the sequence and the lens calibrations.

Kept apart from the human config, in the state directory::

    STATE/sequence.json
    STATE/lenses/<camera>--<lens>.json
    STATE/scenes/<camera>--<lens>.npz     the scene learnt for live-view checks

Every write is atomic: a temporary file in the same directory is written,
flushed and fsynced, renamed over the old file, and the directory is fsynced.
A reader sees the old file or the new one, never half of either, even if
power is cut mid-write.

Sequences and calibrations keep one backup generation (``NAME.bak``).  A
file that cannot be read is reported with its path and line and left
exactly as it is; rig falls back to its backup, and never writes over a
file it could not read (it is moved aside to ``NAME.damaged`` first).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from .calibration import Calibration, parse_calibration
from .inputs import InputError, read_json
from .planner import EASINGS
from .sequencer import Point
from .verify import SceneMap

__all__ = ["Store", "atomic_write_json", "atomic_write_bytes", "backup_path", "damaged_path",
           "make_dirs"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SEQUENCE_VERSION = 1


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, _json_bytes(data))


def _read_sequence(path: Path) -> tuple[Point, ...]:
    return parse_sequence(read_json(path), str(path))


def _read_calibration(path: Path) -> Calibration:
    return parse_calibration(read_json(path), str(path))


def _heir(directory: Path) -> tuple[int, int] | None:
    """Who a file made in ``directory`` must belong to: root writing into a
    directory someone else owns (``sudo rig doctor``, ``sudo rig lenses import``
    into the service's /var/lib/rig) gives it to that owner, so that the
    service can still read it.  None: leave it to whoever writes."""
    if os.geteuid() != 0:
        return None
    st = os.stat(directory)
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def make_dirs(directory: Path) -> None:
    """``mkdir -p``, each new directory owned like the one it is made in (see :func:`_heir`)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        owner = _heir(new.parent)
        if owner is not None:
            os.chown(new, *owner)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    make_dirs(path.parent)
    # Temporary files a killed writer left behind (rig is the only writer).
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    owner = _heir(path.parent)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def parse_sequence(data: Any, source: str) -> tuple[Point, ...]:
    if not isinstance(data, dict):
        raise InputError(source, f"must be an object {{version, lens, points}}, got a "
                                 f"{type(data).__name__}")
    if "points" not in data:
        raise InputError(source, "missing; must be a list of points", key="points")
    if not isinstance(data["points"], list):
        raise InputError(source, f"must be a list of points, got {data['points']!r}",
                         key="points")
    points = []
    for i, item in enumerate(data["points"]):
        key = f"points[{i}]"
        if not isinstance(item, dict):
            raise InputError(source, "must be an object {position, duration}", key=key)
        if "position" not in item:
            raise InputError(source, "missing; must be a whole number >= 0",
                             key=f"{key}.position")
        position = item["position"]
        duration = item.get("duration", 0.0)
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise InputError(source, f"must be a whole number >= 0, got {position!r}",
                             key=f"{key}.position")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) \
                or not 0 <= duration <= 3600:
            raise InputError(source, f"must be a number of seconds 0..3600, got {duration!r}",
                             key=f"{key}.duration")
        easing = item.get("easing", "linear")
        if easing not in EASINGS:
            raise InputError(source, f"must be one of {', '.join(EASINGS)}, got {easing!r}",
                             key=f"{key}.easing")
        points.append(Point(position, float(duration), easing))
    return tuple(points)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def damaged_path(path: Path) -> Path:
    return path.with_name(path.name + ".damaged")


class Store:
    """The state directory.  Sequences and calibrations keep one backup generation.

    Saving a file first makes the current one, if it reads back whole, the
    backup (``NAME.bak``, a hard link: no copy can be half written); a
    current file that does not read is moved aside to ``NAME.damaged``
    instead, so a good backup is never replaced by a bad one.  Loading a
    file that does not read (truncated, garbled) reports it, leaves it as it
    is, and falls back to the backup; ``problems`` collects what the rig must
    tell the operator.  Only when neither reads is the state empty, and then
    it says so.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.problems: list[str] = []

    def _load(self, path: Path, parse: Callable[[Path], T]) -> T | None:
        if not path.exists() and not backup_path(path).exists():
            return None
        try:
            return parse(path)
        except (InputError, FileNotFoundError) as exc:
            damage = str(exc) if isinstance(exc, InputError) else f"{path}: missing"
        backup = backup_path(path)
        try:
            value = parse(backup) if backup.exists() else None
        except InputError as exc:
            value, damage = None, f"{damage}; the backup too: {exc}"
        if value is None:
            problem = f"{damage}; nothing usable: starting without it (the file is kept)"
        else:
            problem = f"{damage}; using the backup {backup.name}"
        log.error("%s", problem)
        self.problems.append(problem)
        return value

    def _save(self, path: Path, data: bytes, parse: Callable[[Path], Any]) -> None:
        if path.exists():
            try:
                parse(path)
                good = True
            except InputError:
                good = False
            if good:
                link = path.with_name(f".{path.name}.bak.tmp")
                link.unlink(missing_ok=True)
                os.link(path, link)
                os.replace(link, backup_path(path))
            else:
                os.replace(path, damaged_path(path))
                log.warning("%s did not read: kept as %s", path, damaged_path(path).name)
        atomic_write_bytes(path, data)

    # -- sequence
    @property
    def sequence_path(self) -> Path:
        return self.root / "sequence.json"

    def load_sequence(self) -> tuple[Point, ...]:
        return self._load(self.sequence_path, _read_sequence) or ()

    def save_sequence(self, points: tuple[Point, ...], lens: str = "") -> None:
        self._save(self.sequence_path, _json_bytes({
            "version": SEQUENCE_VERSION,
            "lens": lens,
            "points": [{"position": p.position, "duration": round(p.duration, 6),
                        "easing": p.easing} for p in points],
        }), _read_sequence)

    # -- calibrations
    @property
    def lenses_dir(self) -> Path:
        return self.root / "lenses"

    def calibration_path(self, camera: str, lens: str) -> Path:
        return self.lenses_dir / f"{_slug(camera)}--{_slug(lens)}.json"

    def load_calibration(self, camera: str, lens: str) -> Calibration | None:
        return self._load(self.calibration_path(camera, lens), _read_calibration)

    def save_calibration(self, cal: Calibration, *, stamp: bool = False) -> Path:
        """Write ``cal`` where its camera and lens say; ``stamp``: just measured,
        so the file records when (``measured``, UTC), unless it says already."""
        path = self.calibration_path(cal.camera, cal.lens)
        data = cal.to_json()
        # What the operator set for this lens (its closest focusing distance,
        # rig lenses set) outlives a new calibration of it.
        if "min_focus_m" not in data and path.exists():
            try:
                kept = read_json(path).get("min_focus_m")
            except (InputError, AttributeError):
                kept = None
            if kept is not None:
                data["min_focus_m"] = kept
        if stamp:
            data.setdefault("measured", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self._save(path, _json_bytes(data), _read_calibration)
        return path

    # -- the scene learnt for live-view position checks (rig.verify)
    def scene_path(self, camera: str, lens: str) -> Path:
        return self.root / "scenes" / f"{_slug(camera)}--{_slug(lens)}.npz"

    def load_scene(self, camera: str, lens: str) -> SceneMap | None:
        path = self.scene_path(camera, lens)
        if not path.exists():
            return None
        return SceneMap.from_bytes(path.read_bytes(), str(path))

    def save_scene(self, scene: SceneMap) -> Path:
        path = self.scene_path(scene.camera, scene.lens)
        atomic_write_bytes(path, scene.to_bytes())
        return path
