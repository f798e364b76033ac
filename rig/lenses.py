"""Lens profiles (calibrations) in the state directory: list, export, import.

A lens profile is the calibration rig measured for one lens on one camera
(``STATE/lenses/<camera>--<lens>.json``, :mod:`rig.calibration`).  People
share them: measuring a lens takes a still scene and ten minutes, and a
friend with the same body and lens has done it already.

* ``list_profiles`` reads every profile, good or damaged.
* ``select`` finds one by any part of its camera and lens names.
* ``export_profile`` writes one to a file; ``import_profile`` adds one.

An import is checked in full before anything is written: a file that is
not JSON, has the wrong shape or numbers out of range, names no camera, or
would replace a different profile of the same lens (without ``force``) is
refused with one message naming the file and the key, and the state
directory is left exactly as it was.  rig never writes over a profile it
cannot read: that one must be moved away by hand first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .calibration import Calibration, parse_calibration
from .inputs import InputError, read_json
from .store import Store, atomic_write_json

__all__ = ["Entry", "list_profiles", "select", "export_profile", "import_profile",
           "describe", "Imported", "set_min_focus"]


@dataclass(frozen=True)
class Entry:
    """One file in ``STATE/lenses``: its calibration, or why it cannot be read."""

    path: Path
    cal: Calibration | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        if self.cal is None:
            return self.path.name
        return f"{self.cal.camera or '?'} / {self.cal.lens}"


def _os_error(path: Path, verb: str, exc: OSError) -> InputError:
    """``cannot read`` / ``cannot write``, and what to do about a permission."""
    hint = ": run as the rig user or with sudo" if isinstance(exc, PermissionError) else ""
    return InputError(path, f"cannot {verb}: {exc.strerror}{hint}")


def list_profiles(store: Store) -> list[Entry]:
    """Every profile in the store, sorted by camera and lens; damaged ones too."""
    folder = store.lenses_dir
    try:
        paths = [p for p in folder.iterdir() if p.suffix == ".json" and p.is_file()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _os_error(folder, "read", exc) from None
    entries = []
    for path in paths:
        try:
            entries.append(Entry(path, parse_calibration(read_json(path), str(path))))
        except InputError as exc:
            entries.append(Entry(path, error=str(exc)))
    return sorted(entries, key=lambda e: (e.cal is None, e.label.lower()))


def describe(cal: Calibration) -> str:
    """Range, sizes (near-far where they vary), play and date, short enough for a phone."""
    sizes = " / ".join(f"{d.steps:g}" if d.far == d.near else f"{d.near:g}-{d.far:g}"
                       for d in sorted(cal.drive, key=lambda d: d.size))
    measured = cal.extra.get("measured")
    when = measured[:10] if isinstance(measured, str) and measured else "date unknown"
    from .distance import min_focus
    closest = min_focus(cal)
    play = f"; backlash {cal.backlash:g}" if cal.backlash else ""   # (None or 0: no play)
    return f"{cal.steps} steps; sizes {sizes}{play}; {when}" + (
        f"; focuses from {closest:g} m" if closest else "")


def _check_min_focus(data: dict, name: str) -> None:
    """A profile's ``min_focus_m``, when it has one: a distance in metres."""
    from .distance import KEY, MIN_FOCUS_RANGE
    if KEY not in data:
        return
    value = data[KEY]
    low, high = MIN_FOCUS_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low <= value <= high:
        raise InputError(name, f"must be the lens's closest focusing distance in metres, "
                               f"{low:g} to {high:g}, got {value!r}", key=KEY)


def set_min_focus(store: Store, entry: Entry, metres: float | None) -> Calibration:
    """Store ``metres`` as the lens's closest focusing distance in its profile
    (None: remove it, so rig's table applies).  Atomic; the profile is read
    back whole first, and a damaged one is never written over."""
    from .distance import KEY
    assert entry.cal is not None
    try:
        data = read_json(entry.path)
        parse_calibration(data, str(entry.path))
    except OSError as exc:
        raise _os_error(entry.path, "read", exc) from None
    if metres is None:
        data.pop(KEY, None)
    else:
        data[KEY] = round(float(metres), 4)
    _check_min_focus(data, str(entry.path))
    try:
        atomic_write_json(entry.path, data)
    except OSError as exc:
        raise _os_error(entry.path, "write", exc) from None
    return parse_calibration(data, str(entry.path))


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def select(store: Store, match: str) -> Entry:
    """The one profile whose camera and lens names contain every word of ``match``.

    Case, spaces and punctuation do not count: "ef24" finds "Canon EF 24mm".
    """
    words = [_squash(w) for w in match.split() if _squash(w)]
    if not words:
        raise InputError("LENS", f"give a part of the camera or lens name, got {match!r}")
    entries = [e for e in list_profiles(store) if e.cal is not None]
    found = [e for e in entries
             if all(w in _squash(f"{e.cal.camera} {e.cal.lens}") for w in words)]  # type: ignore[union-attr]
    if len(found) == 1:
        return found[0]
    if not found:
        known = "; ".join(e.label for e in entries) or "none yet"
        raise InputError("LENS", f"no lens profile matches {match!r} (profiles: {known})")
    raise InputError("LENS", f"{match!r} matches {len(found)} profiles: "
                             + "; ".join(e.label for e in found) + ": say more")


def export_profile(entry: Entry, dest: Path, *, force: bool = False) -> None:
    """Write the profile to ``dest`` (atomically); an existing file only with ``force``."""
    assert entry.cal is not None
    if dest.is_dir():
        raise InputError(dest, "is a directory: give a file name (e.g. lens.json)")
    if dest.exists() and not force:
        raise InputError(dest, "already exists: --force replaces it")
    try:
        atomic_write_json(dest, entry.cal.to_json())
    except OSError as exc:
        raise _os_error(dest, "write", exc) from None


@dataclass(frozen=True)
class Imported:
    path: Path
    cal: Calibration
    status: str   # "added", "replaced" or "unchanged"


def _first_difference(old: dict, new: dict) -> str:
    """The first key whose value differs, as 'key: old here, new in the file'."""
    for key in sorted(set(old) | set(new), key=lambda k: (k != "steps", k != "drive", k)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "drive" and isinstance(a, list) and isinstance(b, list):
            for i, (x, y) in enumerate(zip(a, b)):
                for sub in sorted(set(x) | set(y)):
                    if x.get(sub) != y.get(sub):
                        return f"drive[{i}].{sub}: {x.get(sub)!r} here, {y.get(sub)!r} in the file"
            return f"drive: {len(a)} sizes here, {len(b)} in the file"
        return f"{key}: {a!r} here, {b!r} in the file"
    return ""


def import_profile(store: Store, source: Path, *, force: bool = False) -> Imported:
    """Check ``source`` in full, then add it to the store (atomically)."""
    name = str(source)
    data = read_json(source)
    cal = parse_calibration(data, name)
    _check_min_focus(data, name)
    if not cal.camera.strip():
        said = "missing" if "camera" not in data else "empty"
        raise InputError(name, f"{said}: a shared profile must name the camera that measured "
                               "it (rig keeps one per camera and lens)", key="camera")
    path = store.calibration_path(cal.camera, cal.lens)
    new = cal.to_json()
    status = "added"
    if path.exists():
        try:
            old = read_json(path)
            parse_calibration(old, str(path))
        except InputError as exc:
            raise InputError(path, f"the saved profile for this lens cannot be read ({exc.detail})"
                                   "; rig never writes over it: move it away first") from None
        except OSError as exc:
            raise _os_error(path, "read", exc) from None
        if old == new:
            return Imported(path, cal, "unchanged")
        if not force:
            raise InputError(name, "this lens already has a profile with other numbers "
                                   f"({_first_difference(old, new)}); --force replaces "
                                   f"{path}", key="lens")
        status = "replaced"
    try:
        atomic_write_json(path, new)
    except OSError as exc:
        raise _os_error(path, "write", exc) from None
    return Imported(path, cal, status)
