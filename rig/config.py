"""The human-written configuration: TOML, checked when loaded.

``rig/data/defaults.toml`` holds every key with its default and a comment.
A user file (``/etc/rig/rig.toml`` or ``--config FILE``) is laid over it and
only needs the keys it changes.  Unknown keys, wrong types, out-of-range
values, pins used twice and gestures that cannot work (``[functions]``, see
:mod:`rig.controls`) are refused with the file, line and key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .controls import BUTTONS, FUNCTIONS, BindingError, Bindings, make_bindings
from .inputs import EachTable, Field, InputError, Table, TomlDoc, load_toml, validate
from .planner import EASINGS
from .sequencer import SCENES, Settings

__all__ = ["Config", "load_config", "find_config", "DEFAULTS", "SCHEMA", "SYSTEM_CONFIG",
           "SYSTEM_STATE"]

DEFAULTS = Path(__file__).parent / "data" / "defaults.toml"
# Where the installed rig keeps its config and its state (install/install.py,
# systemd/rig.service): the commands people run by hand look there too.
SYSTEM_CONFIG = Path("/etc/rig/rig.toml")
SYSTEM_STATE = Path("/var/lib/rig")

BCM_PINS = range(0, 28)   # the GPIOs on the Pi's 40-pin header, by BCM number


def _bcm(pin: int) -> str | None:
    if pin not in BCM_PINS:
        return (f"GPIO{pin} is not on the Pi's header: BCM numbers are "
                f"{BCM_PINS.start}..{BCM_PINS.stop - 1} (hardware/wiring.md)")
    return None


def _pin(**kw: Any) -> Field:
    return Field(int, check=_bcm, **kw)


def _port(spec: str) -> str | None:
    if spec in ("usb", "auto") or (spec.startswith("sim:") and len(spec) > 4):
        return None
    return f"must be \"usb\" or \"sim:PROFILE.toml\", got {spec!r}"


def _directory(path: str) -> str | None:
    if path and not (path.startswith("/") or path.startswith("~")):
        return (f"must be an absolute path (or start with ~), got {path!r}: a relative "
                "one would depend on where rig is started")
    return None


def _host(host: str) -> str | None:
    import ipaddress
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.split(".")
    if host and len(host) <= 253 and all(
            0 < len(part) <= 63 and part.replace("-", "").isalnum() and part.isascii()
            and not part.startswith("-") for part in labels):
        return None
    return (f"must be an address to listen on (\"0.0.0.0\" for every network, "
            f"\"127.0.0.1\" for this machine only) or a host name, got {host!r}")


def _web_port(port: int) -> str | None:
    if 0 < port < 1024:
        return (f"port {port} is below 1024: only root may listen there, and the rig's "
                "service runs without privileges (docs/install.md); use 8080, or 0 for "
                "any free port")
    return None


#: The OLED drivers luma.oled knows (``luma.core.cmdline``), with the two of rig's own.
OWN_DRIVERS = ("pygame", "none")


def oled_drivers() -> list[str]:
    """luma.oled's display names (ssd1306, sh1106, ssd1309, ...), as its cmdline lists them."""
    from luma.core.cmdline import get_choices
    return list(get_choices("luma.oled.device"))


def _driver(name: str) -> str | None:
    if name in OWN_DRIVERS:
        return None
    known = oled_drivers()
    if name not in known:
        return (f"must be one of luma.oled's displays ({', '.join(known)}), "
                f"\"pygame\" or \"none\", got {name!r}")
    from .display import panel_problem
    return panel_problem(name)


def _gesture_list(value: list) -> str | None:
    if not all(isinstance(g, str) for g in value):
        return f"must be a list of gestures (strings), got {value!r}"
    return None


SCHEMA = Table({
    "camera": Table({"port": Field(str, check=_port)}),
    "state": Table({"dir": Field(str, check=_directory)}),
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
        "driver": Field(str, check=_driver),
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
    "position": Table({
        "scene": Field(str, choices=SCENES),
        "uncertain_steps": Field(float, above=0, max=1000),
        "rehome": Field(bool),
    }),
    "web": Table({
        "enabled": Field(bool),
        "host": Field(str, check=_host),
        "port": Field(int, min=0, max=65535, check=_web_port),
        "fps": Field(float, above=0, max=30),
        "play_fps": Field(float, min=0, max=30),
    }),
    "calibration": Table({
        "settle_small_s": Field(float, above=0, max=5),
        "settle_large_s": Field(float, above=0, max=10),
        "max_steps": Field(int, min=50, max=100000),
        "stall_window": Field(int, min=8, max=400),
        "method": Field(str, choices=("liveview", "stops")),
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
        position = self.values["position"]
        return Settings(detent_steps=detent, scene=position["scene"],
                        uncertain_steps=position["uncertain_steps"],
                        rehome=position["rehome"], **self.values["ui"])

    @property
    def scene(self) -> str:
        """The scene the rig boots with ("moving" or "still"); the operator switches it."""
        return str(self.values["position"]["scene"])

    def state_dir(self, *, simulated: bool = False) -> Path:
        """Where calibrations and the sequence go.

        ``simulated``: for a simulated camera, whose made-up lenses must not
        land among the real rig's: ``state.dir`` if set, else
        ``$XDG_STATE_HOME/rig-sim`` (``~/.local/state/rig-sim``), never the
        service's directory.
        """
        configured = self.values["state"]["dir"]
        if configured:
            return Path(configured).expanduser()
        if simulated:
            return _xdg_state() / "rig-sim"
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        if SYSTEM_STATE.is_dir():
            # The installed service's (rig lenses, rig calibrate run by hand).
            return SYSTEM_STATE
        return _xdg_state() / "rig"

    def with_state_dir(self, path: str | Path) -> "Config":
        """The same config with ``state.dir`` set to ``path``."""
        return Config({**self.values, "state": {**self.values["state"], "dir": str(path)}},
                      self.source)


def _xdg_state() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


def _written(doc: TomlDoc, dotted: str) -> bool:
    """Whether the file itself sets ``dotted`` (rather than the defaults)."""
    node: Any = doc.data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _blame(doc: TomlDoc, key: str, other: str, message: str,
           reverse: str | None = None) -> InputError:
    """An error about two keys, on the one this file wrote (the other may be a default).

    ``message`` is said of ``key``, ``reverse`` (default: the same) of
    ``other`` when that is the one written; ``{other}`` names the other key.
    """
    if _written(doc, other) and not _written(doc, key):
        key, other, message = other, key, reverse or message
    label = other if _written(doc, other) else f"{other} (a default)"
    return doc.error(key, message.replace("{other}", label))


def _check(doc: TomlDoc, values: dict[str, Any]) -> None:
    """Rules across keys: pins used once and free of the buses, sane hold times."""
    ui = values["ui"]
    hold, coarse = ui["hold_time"], ui["coarse_time"]
    if coarse <= hold:
        raise _blame(doc, "ui.coarse_time", "ui.hold_time",
                     f"{coarse:g} s must be longer than {{other}}, {hold:g} s",
                     f"{hold:g} s must be shorter than {{other}}, {coarse:g} s")
    fine, big = ui["jog_fine"], ui["jog_coarse"]
    if fine > big:
        raise _blame(doc, "ui.jog_fine", "ui.jog_coarse",
                     f"size {fine} must not be larger than {{other}}, size {big}",
                     f"size {big} must not be smaller than {{other}}, size {fine}")
    reserved = {0: "the HAT ID EEPROM", 1: "the HAT ID EEPROM"}
    if values["display"]["driver"] not in OWN_DRIVERS:      # an OLED on I2C
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
            raise _blame(doc, key, used[pin], f"GPIO{pin} is already used by {{other}}")
        used[pin] = key
    # Gestures: what the file wrote goes last, so a clash is blamed on it.
    written = set(doc.data.get("functions", {}))
    functions = values["functions"]
    order = sorted(functions, key=lambda f: f in written)
    try:
        make_bindings({f: functions[f] for f in order})
    except BindingError as exc:
        raise doc.error(f"functions.{exc.function}", str(exc)) from None


def find_config(path: str | Path | None) -> Path | None:
    """The file to lay over the defaults: ``path``, else the installed rig's if present."""
    if path is not None:
        return Path(path)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None


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


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(config: Config) -> dict[str, Any]:
    """The keys whose values differ from the packaged defaults."""
    defaults = _flat(load_config().values)
    return {k: v for k, v in _flat(config.values).items() if defaults.get(k, object()) != v}


def toml_value(value: Any, key: str = "") -> str:
    """``value`` as it is written in rig.toml (true, "usb", 0x3C, ["a", "b long"])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and key.endswith("i2c_address"):
        return f"0x{value:02X}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML spelling for {value!r}")


def web_line(web: dict[str, Any]) -> str:
    """Where the page is, as a phone would open it (the token aside)."""
    if not web["enabled"]:
        return "off"
    from .address import page_urls
    fps = f"live view {web['fps']:g} frames/s ({web['play_fps']:g} in play)"
    if web["port"] == 0:
        return f"on any free port (the journal says which); {fps}"
    where = ("every network" if web["host"] in ("0.0.0.0", "::", "")
             else web["host"] + " only")
    return (f"{', '.join(page_urls(web['host'], web['port']))} ({where}; add the token: "
            f"rig doctor prints it); {fps}")


def summary(config: Config) -> list[str]:
    """What the rig will do with this config, in a few short lines."""
    encoder = config.encoder
    display = config["display"]
    web = config["web"]
    state = config["state"]["dir"] or f"{config.state_dir()} (default)"
    return [
        f"camera   {config['camera']['port']}",
        f"state    {state}",
        "buttons  " + ", ".join(f"{name} {pin}" for name, pin in config.buttons.items()),
        "encoder  " + (f"GPIO{encoder['a']} + GPIO{encoder['b']}, {encoder['detent_steps']} "
                       "step(s) a detent" if encoder else "off"),
        "display  " + ("none" if display["driver"] == "none" else
                       f"{display['driver']} at 0x{display['i2c_address']:02X} on "
                       f"/dev/i2c-{display['i2c_port']}"),
        "web      " + web_line(web),
        "position " + _position_line(config["position"]),
    ]


def _position_line(position: dict[str, Any]) -> str:
    rehome = (f"Q in play homes first above ±{position['uncertain_steps']:g} steps"
              if position["rehome"] else "Q never homes")
    return f"scene {position['scene']}; {rehome}"
