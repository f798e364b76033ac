"""The human-written configuration: TOML, checked when loaded.

``rig/data/defaults.toml`` holds every key with its default and a comment.
A user file (``/etc/rig/rig.toml`` or ``--config FILE``) is laid over it and
only needs the keys it changes.  Unknown keys, wrong types, out-of-range
values, pins used twice and gestures that cannot work (``[functions]``, see
:mod:`rig.controls`) are refused with the file, line and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .controls import BUTTONS, FUNCTIONS, BindingError, Bindings, make_bindings
from .inputs import EachTable, Field, Table, TomlDoc, load_toml, validate
from .planner import EASINGS
from .sequencer import Settings

__all__ = ["Config", "load_config", "DEFAULTS", "SCHEMA"]

DEFAULTS = Path(__file__).parent / "data" / "defaults.toml"

def _pin(**kw: Any) -> Field:
    return Field(int, min=0, max=27, **kw)


def _gesture_list(value: list) -> str | None:
    if not all(isinstance(g, str) for g in value):
        return f"must be a list of gestures (strings), got {value!r}"
    return None


SCHEMA = Table({
    "camera": Table({"port": Field(str)}),
    "state": Table({"dir": Field(str)}),
    "buttons": Table({name: _pin() for name in BUTTONS if name != "wheel"}),
    "functions": Table({name: Field(list, check=_gesture_list) for name in FUNCTIONS}),
    "encoder": EachTable(Table({
        "enabled": Field(bool),
        "a": _pin(),
        "b": _pin(),
        "push": _pin(),
        "detent_steps": Field(int, min=1, max=100),
    }), names=("focus",)),
    "display": Table({
        "driver": Field(str, choices=("ssd1306", "pygame", "none")),
        "i2c_port": Field(int, min=0, max=10),
        "i2c_address": Field(int, min=0x03, max=0x77),
        "rotate": Field(int, min=0, max=3),
    }),
    "ui": Table({
        "hold_time": Field(float, above=0, max=10),
        "coarse_time": Field(float, above=0, max=20),
        "repeat_delay": Field(float, above=0, max=10),
        "repeat_time": Field(float, above=0, max=10),
        "bounce_time": Field(float, min=0, max=1),
        "highlight_time": Field(float, above=0, max=10),
        "duration_step": Field(float, above=0, max=60),
        "jog_fine": Field(int, min=1, max=3),
        "jog_coarse": Field(int, min=1, max=3),
        "easing": Field(str, choices=EASINGS),
    }),
    "calibration": Table({
        "settle_small_s": Field(float, above=0, max=5),
        "settle_large_s": Field(float, above=0, max=10),
        "max_steps": Field(int, min=50, max=100000),
        "stall_window": Field(int, min=8, max=400),
    }),
})


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Config:
    values: dict[str, Any]
    source: str

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def buttons(self) -> dict[str, int]:
        """Each button's BCM pin; the wheel's push switch is ``wheel`` when it is fitted."""
        pins = dict(self.values["buttons"])
        if self.encoder is not None:
            pins["wheel"] = self.encoder["push"]
        return pins

    @property
    def bindings(self) -> Bindings:
        """Which function each gesture does (checked when loaded)."""
        return make_bindings(self.values["functions"])

    @property
    def encoder(self) -> dict[str, Any] | None:
        focus = self.values["encoder"].get("focus")
        return focus if focus and focus["enabled"] else None

    @property
    def ui(self) -> Settings:
        detent = self.values["encoder"]["focus"]["detent_steps"]
        return Settings(detent_steps=detent, **self.values["ui"])

    def state_dir(self) -> Path:
        configured = self.values["state"]["dir"]
        if configured:
            return Path(configured).expanduser()
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "rig"


def _check(doc: TomlDoc, values: dict[str, Any]) -> None:
    """Rules across keys: pins used once and free of the buses, sane hold times."""
    if values["ui"]["coarse_time"] <= values["ui"]["hold_time"]:
        raise doc.error("ui.coarse_time", "must be longer than ui.hold_time")
    reserved = {0: "the HAT ID EEPROM", 1: "the HAT ID EEPROM"}
    if values["display"]["driver"] == "ssd1306":
        reserved |= {2: "I2C SDA (the OLED)", 3: "I2C SCL (the OLED)"}
    claims = [(f"buttons.{k}", v) for k, v in values["buttons"].items()]
    focus = values["encoder"].get("focus")
    if focus and focus["enabled"]:
        claims += [(f"encoder.focus.{k}", focus[k]) for k in ("a", "b", "push")]
    used: dict[int, str] = {}
    for key, pin in claims:
        if pin in reserved:
            raise doc.error(key, f"GPIO{pin} is reserved for {reserved[pin]}")
        if pin in used:
            raise doc.error(key, f"GPIO{pin} is already used by {used[pin]}")
        used[pin] = key
    # Gestures: what the file wrote goes last, so a clash is blamed on it.
    written = set(doc.data.get("functions", {}))
    functions = values["functions"]
    order = sorted(functions, key=lambda f: f in written)
    try:
        make_bindings({f: functions[f] for f in order})
    except BindingError as exc:
        raise doc.error(f"functions.{exc.function}", str(exc)) from None


def load_config(path: str | Path | None = None) -> Config:
    """The packaged defaults with ``path`` (if any) laid over them, checked."""
    base = load_toml(DEFAULTS)
    if path is None:
        values = validate(base, SCHEMA)
        _check(base, values)
        return Config(values, str(DEFAULTS))
    doc = load_toml(path)
    validate(doc, SCHEMA, partial=True)          # unknown keys and types, with lines
    values = validate(doc.with_data(_merge(base.data, doc.data)), SCHEMA)
    _check(doc, values)
    return Config(values, str(path))
