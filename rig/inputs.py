"""Reading human-written files with one clear message per mistake.

Every file a person writes (config, simulator profiles, session scripts,
calibration files) is checked when it is loaded.  A mistake raises
:class:`InputError`, whose text names the file, the line where it is known,
and the key, for example::

    profiles/x.toml:7: drive.2.speed: must be a number > 0, got -3

The CLI prints that one line and exits with status 2.  Nothing on disk is
touched by a failed load.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["InputError", "TomlDoc", "Field", "Table", "EachTable", "TableList", "validate",
           "load_toml",
           "read_text", "read_json"]


class InputError(Exception):
    """A file or message written by a person is wrong; the text says where."""

    def __init__(self, source: str | Path, message: str, *, line: int | None = None,
                 key: str | None = None) -> None:
        self.source = str(source)
        self.line = line
        self.key = key
        self.detail = message
        where = self.source if line is None else f"{self.source}:{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text)


class TomlDoc:
    """A parsed TOML file that can say on which line a key was written."""

    def __init__(self, path: str | Path, text: str) -> None:
        self.path = str(path)
        self.text = text
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
            line = int(match.group(1)) if match else None
            detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            key = None if line is None else _key_at(text, line)
            raise InputError(path, f"not valid TOML: {detail}", line=line, key=key) from None
        self._lines = _key_lines(text)

    def line_of(self, dotted: str) -> int | None:
        """The line where ``dotted`` (or its nearest written parent) appears."""
        parts = dotted.split(".")
        while parts:
            line = self._lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return None

    def error(self, dotted: str, message: str) -> InputError:
        return InputError(self.path, message, line=self.line_of(dotted), key=dotted)

    def with_data(self, data: dict[str, Any]) -> "TomlDoc":
        """The same file's line map over other data (e.g. merged over defaults)."""
        other = object.__new__(TomlDoc)
        other.path, other.text, other.data, other._lines = self.path, self.text, data, self._lines
        return other


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part


def _table_path(raw: str, parts: list[str], arrays: dict[tuple[str, ...], int]) -> list[str]:
    """A header's dotted path, each array of tables named with its item: ``layers[1]``.

    ``[[scene.layers]]`` starts item 0, then 1, ...; a plain ``[a.b]`` header
    under an array's item (``[scene.layers.texture]``) belongs to the current item.
    """
    if raw.lstrip().startswith("[["):
        key = tuple(parts)
        arrays[key] = arrays.get(key, -1) + 1
    path: list[str] = []
    for i in range(len(parts)):
        index = arrays.get(tuple(parts[:i + 1]))
        path.append(parts[i] if index is None else f"{parts[i]}[{index}]")
    return path


def _key_lines(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    table: list[str] = []
    arrays: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            parts = [_unquote(p) for p in header.group(1).split(".")]
            lines.setdefault(".".join(parts), number)
            table = _table_path(raw, parts, arrays)
            lines.setdefault(".".join(table), number)
            continue
        key = _KEY.match(raw)
        if key:
            path = table + [_unquote(p) for p in key.group(1).split(".")]
            lines.setdefault(".".join(path), number)
    return lines


def _key_at(text: str, line: int) -> str | None:
    """The dotted key (or table) written on ``line``, for a file TOML cannot parse."""
    table: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            table = [_unquote(p) for p in header.group(1).split(".")]
        key = None if header else _KEY.match(raw)
        if number == line:
            if header:
                return ".".join(table)
            if key:
                return ".".join(table + [_unquote(p) for p in key.group(1).split(".")])
            return None
    return None


def read_text(path: str | Path) -> str:
    """A UTF-8 text file, or one clear InputError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None


def read_json(path: str | Path) -> Any:
    """A JSON file; a syntax error names its line.  The file is left as it is."""
    text = read_text(path)
    if not text.strip():
        raise InputError(path, "is empty (a JSON file was expected)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def load_toml(path: str | Path) -> TomlDoc:
    return TomlDoc(path, read_text(path))


# ------------------------------------------------------------------ schema

_REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One scalar value: its type, limits and default."""

    kind: type
    default: Any = _REQUIRED
    min: float | None = None
    max: float | None = None
    above: float | None = None  # strictly greater than
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    help: str = ""

    def describe(self) -> str:
        name = {int: "a whole number", float: "a number", str: "a string",
                bool: "true or false", list: "a list"}.get(self.kind, self.kind.__name__)
        limits = []
        if self.above is not None:
            limits.append(f"> {self.above:g}")
        if self.min is not None:
            limits.append(f">= {self.min:g}")
        if self.max is not None:
            limits.append(f"<= {self.max:g}")
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return f"{name} {' and '.join(limits)}".strip()

    def coerce(self, value: Any) -> Any:
        """Return the value in this field's type, or raise ValueError."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(value, bool):
            raise ValueError
        if self.kind is float:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError
            value = float(value)
        elif self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise ValueError
        elif not isinstance(value, self.kind):
            raise ValueError
        if self.choices is not None and value not in self.choices:
            raise ValueError
        if self.above is not None and not value > self.above:
            raise ValueError
        if self.min is not None and value < self.min:
            raise ValueError
        if self.max is not None and value > self.max:
            raise ValueError
        return value


@dataclass(frozen=True)
class Table:
    """A TOML table with fixed keys."""

    fields: Mapping[str, "Field | Table | EachTable | TableList"]
    required: bool = False
    optional: bool = False   # absent: None (its required keys are only required when present)


@dataclass(frozen=True)
class TableList:
    """An array of tables (``[[name]]`` in TOML), each following one schema."""

    item: Table
    min: int = 0
    max: int | None = None


@dataclass(frozen=True)
class EachTable:
    """A table of sub-tables with chosen names, each following one schema."""

    item: Table
    names: tuple[str, ...] | None = None  # allowed names; None = any
    required_names: tuple[str, ...] = ()


def validate(doc: TomlDoc, schema: Table, data: Mapping[str, Any] | None = None,
             prefix: str = "", *, partial: bool = False) -> dict[str, Any]:
    """Check ``data`` (default: the whole document) and fill in defaults.

    With ``partial``, missing keys are fine (a user file that only changes a
    few values); what is written must still be known and well typed.
    """
    data = doc.data if data is None else data
    out: dict[str, Any] = {}
    for key in data:
        if key not in schema.fields:
            dotted = f"{prefix}{key}"
            known = ", ".join(sorted(schema.fields))
            raise doc.error(dotted, f"unknown key (known here: {known})")
    for key, spec in schema.fields.items():
        dotted = f"{prefix}{key}"
        present = key in data
        value = data.get(key)
        if isinstance(spec, Table):
            if not present:
                if partial:
                    continue
                if spec.required:
                    raise doc.error(dotted, "missing table")
                if spec.optional:
                    out[key] = None
                    continue
                value = {}
            if not isinstance(value, dict):
                raise doc.error(dotted, "must be a table")
            out[key] = validate(doc, spec, value, dotted + ".", partial=partial)
        elif isinstance(spec, TableList):
            if not present:
                if partial or spec.min == 0:
                    if not partial:
                        out[key] = []
                    continue
                raise doc.error(dotted, f"missing: at least {spec.min} [[{dotted}]] table"
                                        f"{'s' if spec.min > 1 else ''}")
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise doc.error(dotted, f"must be [[{dotted}]] tables")
            if len(value) < spec.min or (spec.max is not None and len(value) > spec.max):
                most = "" if spec.max is None else f" and at most {spec.max}"
                raise doc.error(dotted, f"needs at least {spec.min}{most} [[{dotted}]] tables, "
                                        f"got {len(value)}")
            out[key] = [validate(doc, spec.item, sub, f"{dotted}[{i}].", partial=partial)
                        for i, sub in enumerate(value)]
        elif isinstance(spec, EachTable):
            value = value if present else {}
            if not isinstance(value, dict):
                raise doc.error(dotted, "must be a table")
            for name in () if partial else spec.required_names:
                if name not in value:
                    raise doc.error(f"{dotted}.{name}", "missing table")
            items = {}
            for name, sub in value.items():
                if spec.names is not None and name not in spec.names:
                    allowed = ", ".join(spec.names)
                    raise doc.error(f"{dotted}.{name}", f"unknown name (allowed: {allowed})")
                if not isinstance(sub, dict):
                    raise doc.error(f"{dotted}.{name}", "must be a table")
                items[name] = validate(doc, spec.item, sub, f"{dotted}.{name}.",
                                       partial=partial)
            out[key] = items
        else:
            if not present:
                if partial:
                    continue
                if spec.default is _REQUIRED:
                    raise doc.error(dotted, f"missing; must be {spec.describe()}")
                out[key] = spec.default
                continue
            try:
                value = spec.coerce(value)
            except ValueError:
                raise doc.error(dotted, f"must be {spec.describe()}, got {value!r}") from None
            if spec.check is not None:
                problem = spec.check(value)
                if problem:
                    raise doc.error(dotted, problem)
            out[key] = value
    return out
