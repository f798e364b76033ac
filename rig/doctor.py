"""``rig doctor``: is everything the rig needs there, and if not, what to do.

Each check gives a :class:`Verdict`: ``ok``, ``warn``, ``FAIL`` or ``skip``
(could not be checked, and why), with a fix where there is one.  The checks
run in order and share what they found on a :class:`Doctor` (the camera
session, whether the service holds the camera, the calibration), so a check
that needs the camera says "skip" when there is none instead of failing a
second time for the same cause.

To add a check, write ``def check_x(d: Doctor) -> Iterable[Verdict]`` and
put it in :data:`CHECKS`.

The camera checks open the camera as ``rig run`` does and drive the lens a
little (the lens-switch test), so they need the rig service stopped: while
it runs it holds the camera and the GPIO pins, and the doctor says so.
"""

from __future__ import annotations

import errno
import io
import json
import shutil
import subprocess
import textwrap
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import gphoto2 as gp

from .calibration import Calibration
from .clock import Clock
from .config import DEFAULTS, Config
from .lens import Lens, LensError
from .lenses import describe
from .precheck import MOVED, STILL, drive_test
from .store import Store
from .worker import WAIT_FOR, use_calibration

__all__ = ["Doctor", "Verdict", "CHECKS", "run", "format_verdict", "OK", "WARN", "FAIL", "SKIP"]

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
UNIT = "rig.service"
SYSTEMD_RUN = Path("/run/systemd/system")   # exists when systemd runs (sd_booted)
STOP_SERVICE = "sudo systemctl stop rig; rig doctor; sudo systemctl start rig"
AVAHI_SERVICE = Path("/etc/avahi/services/rig.service")   # install/install.py writes it


@dataclass(frozen=True)
class Verdict:
    check: str
    status: str
    text: str
    fix: str = ""


@dataclass
class Doctor:
    """What the checks need, and what they learn along the way."""

    config: Config
    open_camera: Callable[[], Any]
    clock: Clock
    store: Store
    camera_spec: str = "usb"
    config_error: str | None = None
    dev: Path = Path("/dev")
    systemctl: str | None = field(default_factory=lambda: shutil.which("systemctl"))
    systemd_running: bool = field(default_factory=lambda: SYSTEMD_RUN.is_dir())
    pin_factory: Any = None
    # found along the way
    service_active: bool = False
    lens: Lens | None = None
    drive_ok: bool = False
    liveview_ok: bool = False
    calibration: Calibration | None = None
    web_link: tuple[str, str] | None = None      # (the page's address, the token)
    avahi_service: Path = field(default_factory=lambda: AVAHI_SERVICE)

    @property
    def simulated(self) -> bool:
        return self.camera_spec.startswith("sim:")

    def close(self) -> None:
        if self.lens is not None:
            self.lens.close()
            self.lens = None


def _split(message: str) -> tuple[str, str]:
    """rig's "what is wrong: what to do" messages, as (text, fix)."""
    text, _, fix = message.rpartition(": ")
    return (text, fix) if text else (message, "")


# ------------------------------------------------------------------ checks


def check_config(d: Doctor) -> Iterable[Verdict]:
    if d.config_error:
        yield Verdict("config", FAIL, d.config_error + " (the checks below use the packaged "
                      "defaults)", "correct it; rig config check tells when it is right")
    else:
        source = d.config.source
        yield Verdict("config", OK, "the packaged defaults (no /etc/rig/rig.toml)"
                      if source == str(DEFAULTS) else f"{source}, valid")


def check_service(d: Doctor) -> Iterable[Verdict]:
    if d.systemctl is None:
        yield Verdict("service", SKIP, "no systemctl on this machine")
        return
    if not d.systemd_running:
        yield Verdict("service", SKIP, "systemd is not running on this machine")
        return

    def ask(verb: str) -> str:
        done = subprocess.run([d.systemctl, verb, UNIT], capture_output=True, text=True,
                              timeout=10)
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""

    active, enabled = ask("is-active"), ask("is-enabled")
    boot = "starts at boot" if enabled == "enabled" else f"does not start at boot ({enabled})"
    if enabled in ("", "not-found") and active in ("", "inactive", "unknown"):
        yield Verdict("service", FAIL, f"{UNIT} is not installed", "sudo make install")
    elif active == "active":
        d.service_active = True
        if enabled == "enabled":
            yield Verdict("service", OK, f"running; {boot}")
        else:
            yield Verdict("service", WARN, f"running, but {boot}", "sudo systemctl enable rig")
    elif active == "failed":
        yield Verdict("service", FAIL, f"failed; {boot}",
                      "journalctl -u rig -b says why; then sudo systemctl restart rig")
    elif enabled != "enabled":
        yield Verdict("service", FAIL, f"{active or 'stopped'}; {boot}",
                      "sudo systemctl enable --now rig")
    else:
        yield Verdict("service", OK, f"{active}; {boot}")


def check_camera(d: Doctor) -> Iterable[Verdict]:
    """Camera found and its model; the lens name; the focus drive."""
    if d.service_active and not d.simulated:
        yield Verdict("camera", SKIP, "the rig service is running and holds the camera",
                      STOP_SERVICE)
        return
    lens = Lens(d.open_camera(), d.clock)
    try:
        lens.connect()
        problem = None
    except gp.GPhoto2Error as exc:
        lens.close()
        if exc.code in WAIT_FOR:
            text, fix = _split(WAIT_FOR[exc.code])
        else:
            text, fix = f"libgphoto2 says {exc}", "check the cable and that the camera is on"
        yield Verdict("camera", FAIL, text, fix)
        return
    except LensError as exc:
        problem = str(exc)
    d.lens = lens
    name = lens.camera_model
    maker = lens.manufacturer.split(" ")[0] if lens.manufacturer else ""
    if maker and maker.lower() not in name.lower():
        name = f"{maker} {name}"
    yield Verdict("camera", OK, name)
    if lens.lens_name == "unknown lens":
        yield Verdict("lens", WARN, "the camera does not say which lens is on; its "
                      "calibration is kept as 'unknown lens'",
                      "calibrate again (rig calibrate) after changing lenses")
    else:
        yield Verdict("lens", OK, lens.lens_name)
    if problem:
        yield Verdict("drive", FAIL, problem,
                      "rig needs a camera with a USB focus drive: Canon EOS, Nikon, Sony, "
                      "Fuji, Olympus or Panasonic (docs/operating.md)")
        return
    d.drive_ok = True
    yield Verdict("drive", OK, _drive_text(lens))


def _drive_text(lens: Lens) -> str:
    caps = lens.caps
    shape = {"sizes": "steps of sizes " + ", ".join(map(str, caps.sizes)),
             "range": "signed motor units", "absolute": "absolute positions"}[caps.shape]
    stop = "says when at a stop" if caps.stop == "error" else "silent at the stops"
    feedback = {"none": "no position feedback", "relative": "relative position",
                "absolute": "reports its position"}[caps.feedback]
    return f"{caps.family} family: {shape}; {stop}; {feedback}"


def check_live_view(d: Doctor) -> Iterable[Verdict]:
    lens = d.lens
    if lens is None:
        yield Verdict("live view", SKIP, "needs the camera")
        return
    from PIL import Image, UnidentifiedImageError
    try:
        if not d.drive_ok:
            lens.liveview_on()      # connect() stopped short of it
        data = lens.frame()
        width, height = Image.open(io.BytesIO(data)).size
    except gp.GPhoto2Error as exc:
        lens.ctx.take()
        if exc.code == gp.GP_ERROR_NOT_SUPPORTED:
            yield Verdict("live view", FAIL, f"this camera gives no live view over USB "
                          f"(libgphoto2 says {exc})",
                          "rig needs it to see the lens on this camera: use one that has it")
        else:
            yield Verdict("live view", FAIL, f"no preview frame (libgphoto2 says {exc})",
                          "turn live view on at the camera, or choose a mode that has it")
        return
    except (OSError, UnidentifiedImageError):
        yield Verdict("live view", FAIL, "the preview frame is not a picture",
                      "update libgphoto2 (pip install -U gphoto2 in rig's venv)")
        return
    d.liveview_ok = True
    note = " (it was off: turned on, as rig does at every start)" \
        if lens.liveview_switched_on else ""
    yield Verdict("live view", OK, f"{width}x{height} frames{note}")


def check_calibration(d: Doctor) -> Iterable[Verdict]:
    lens = d.lens
    if lens is None or not d.drive_ok:
        yield Verdict("calibration", SKIP, "needs a camera with a focus drive")
        return
    try:
        before = len(d.store.problems)
        cal = d.store.load_calibration(lens.camera_model, lens.lens_name)
    except OSError as exc:
        yield Verdict("calibration", FAIL, f"cannot read {d.store.lenses_dir}: {exc.strerror}",
                      "run as the rig user or with sudo")
        return
    damage = d.store.problems[before:]
    if damage and cal is None:
        # The loader's message names the file and the key; the files stay as they are.
        yield Verdict("calibration", FAIL, damage[0].split("; nothing usable")[0],
                      "import a good one with rig lenses import FILE, or delete this one "
                      "and rig calibrates again at its next start")
        return
    if damage:
        yield Verdict("calibration", WARN, damage[0],
                      "rig uses the backup; its next calibration replaces the damaged file")
        d.calibration = cal
        return
    if cal is None:
        yield Verdict("calibration", WARN, "none yet for this camera and lens",
                      "rig calibrates it at its next start (minutes; aim at a still scene "
                      "with detail), or: rig lenses import FILE")
        return
    d.calibration = cal
    yield Verdict("calibration", OK, describe(cal))


def check_lens_on_af(d: Doctor) -> Iterable[Verdict]:
    """A short test drive, seen in the live view or in the camera's reading."""
    lens = d.lens
    if lens is None or not d.drive_ok:
        yield Verdict("lens on AF", SKIP, "needs a camera with a focus drive")
        return
    if not d.liveview_ok and lens.caps.feedback != "absolute":
        yield Verdict("lens on AF", SKIP, "needs live view to see the lens move")
        return
    try:
        if d.calibration is not None:
            use_calibration(lens, d.calibration)
            lens.home()
        test = drive_test(lens)
    except LensError as exc:
        yield Verdict("lens on AF", FAIL, *_split(str(exc)))
        return
    except gp.GPhoto2Error as exc:
        lens.ctx.take()
        yield Verdict("lens on AF", FAIL, f"the test drive failed: libgphoto2 says {exc}",
                      "check the cable, then run rig doctor again")
        return
    seen = f"{test.how}: {test.detail}"
    if test.result == MOVED:
        yield Verdict("lens on AF", OK, f"a test drive moves the lens ({seen})")
    elif test.result == STILL:
        yield Verdict("lens on AF", FAIL, f"the lens does not move when driven ({seen})",
                      "set the lens switch to AF")
    else:
        yield Verdict("lens on AF", WARN, "cannot tell: the picture has too little detail",
                      "point the camera at something with detail, run rig doctor again")


def check_oled(d: Doctor) -> Iterable[Verdict]:
    display = d.config["display"]
    if display["driver"] == "none":
        yield Verdict("OLED", SKIP, "off in the config (display.driver = \"none\")")
        return
    address = display["i2c_address"]
    bus = d.dev / f"i2c-{display['i2c_port']}"
    if not bus.exists():
        others = sorted(p.name for p in d.dev.glob("i2c-*"))
        if others:
            yield Verdict("OLED", FAIL, f"no {bus} (there is {', '.join(others)})",
                          "set display.i2c_port to the OLED's bus")
        else:
            yield Verdict("OLED", FAIL, f"no I2C bus on this machine ({bus} is missing)",
                          "turn I2C on (sudo make install does), then reboot")
        return
    from smbus2 import SMBus
    try:
        with SMBus(str(bus)) as smbus:
            smbus.write_quick(address)
    except PermissionError:
        yield Verdict("OLED", FAIL, f"cannot open {bus}: permission denied",
                      "run as a user in group i2c, or with sudo")
        return
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EREMOTEIO, errno.EIO, errno.ETIMEDOUT):
            yield Verdict("OLED", FAIL, f"nothing answers at 0x{address:02X} on {bus}",
                          "check the OLED's wiring (hardware/wiring.md) and "
                          "display.i2c_address")
        else:
            yield Verdict("OLED", FAIL, f"{bus} is not an I2C bus ({exc.strerror})",
                          "check display.i2c_port")
        return
    yield Verdict("OLED", OK, f"a device answers at 0x{address:02X} on {bus}")


def _pins(config: Config) -> list[tuple[str, int]]:
    claims = [(f"buttons.{name}", pin) for name, pin in config.buttons.items()]
    encoder = config.encoder
    if encoder is not None:
        claims += [("encoder.focus.a", encoder["a"]), ("encoder.focus.b", encoder["b"])]
    return claims


def check_gpio(d: Doctor) -> Iterable[Verdict]:
    """Every configured pin can be claimed, and no button reads pressed at rest."""
    if d.service_active:
        yield Verdict("GPIO", SKIP, "the rig service is running and holds the pins",
                      STOP_SERVICE)
        return
    from gpiozero import DigitalInputDevice
    from gpiozero.exc import BadPinFactory
    claims = _pins(d.config)
    devices, busy, pressed = [], [], []
    try:
        for key, pin in claims:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # gpiozero's factory fallbacks
                    dev = DigitalInputDevice(pin, pull_up=True, pin_factory=d.pin_factory)
            except BadPinFactory as exc:
                yield Verdict("GPIO", FAIL, f"no GPIO on this machine ({exc})",
                              "on the Pi: sudo apt install python3-lgpio")
                return
            except Exception as exc:  # lgpio's "GPIO busy", gpiozero's GPIOPinInUse...
                busy.append(f"{key} (GPIO{pin}): {exc}")
                continue
            devices.append(dev)
            if dev.is_active:
                pressed.append(f"{key} (GPIO{pin})")
    finally:
        for dev in devices:
            dev.close()
    if busy:
        yield Verdict("GPIO", FAIL, "in use: " + "; ".join(busy),
                      "stop what holds it (the rig service: sudo systemctl stop rig)")
    elif pressed:
        yield Verdict("GPIO", WARN, "reads pressed at rest: " + ", ".join(pressed),
                      "a stuck button or a wire to ground: check hardware/wiring.md")
    else:
        yield Verdict("GPIO", OK, f"{len(claims)} pins free, none pressed")


def check_web(d: Doctor) -> Iterable[Verdict]:
    """The web page: its address with the token (by IP address and by name), whether
    the port is free, and whether the network announcement says the same port."""
    from .address import page_urls
    from .web import port_problem, token_for
    web = d.config["web"]
    if not web["enabled"]:
        yield Verdict("web", SKIP, "off in the config (web.enabled = false)")
        return
    try:
        token = token_for(d.store.root)
    except OSError as exc:
        yield Verdict("web", FAIL, f"no token: {exc}",
                      "run rig doctor as the rig's user: sudo -u rig rig doctor")
        return
    host, port = web["host"], web["port"]
    urls = [f"{url}?token={token}" for url in page_urls(host, port)]
    d.web_link = (urls[0].split("?")[0], token)
    text = urls[0] + (f" (or {', '.join(u.split('?')[0] for u in urls[1:])} with the "
                      "same token)" if len(urls) > 1 else "")
    if not d.service_active:
        problem = port_problem(host, port)
        if problem:
            yield Verdict("web", FAIL, f"{text}: {problem}",
                          "stop the program that uses it, or set another web.port")
            return
    yield Verdict("web", OK, text)
    announced = _announced_port(d.avahi_service)
    if announced is not None and announced != port:
        yield Verdict("web", WARN, f"the network announces the page on port {announced}, "
                      f"the config serves it on {port}",
                      "sudo make install (it writes the announcement again)")


def _announced_port(path: Path) -> int | None:
    """The port in rig's avahi service file, or None without one."""
    import re
    try:
        found = re.search(r"<port>(\d+)</port>", path.read_text())
    except OSError:
        return None
    return int(found.group(1)) if found else None


CHECKS: list[Callable[[Doctor], Iterable[Verdict]]] = [
    check_config, check_service, check_camera, check_live_view, check_calibration,
    check_lens_on_af, check_oled, check_gpio, check_web,
]


def run(d: Doctor, emit: Callable[[Verdict], None] = lambda v: None) -> list[Verdict]:
    """Every check in order; ``emit`` sees each verdict as soon as it is known."""
    verdicts: list[Verdict] = []
    try:
        for check in CHECKS:
            name = check.__name__.removeprefix("check_").replace("_", " ")
            try:
                for verdict in check(d):
                    verdicts.append(verdict)
                    emit(verdict)
            except Exception as exc:   # a doctor that crashes helps nobody: say it, go on
                verdict = Verdict(name, FAIL, f"the check itself failed: "
                                              f"{type(exc).__name__}: {exc}")
                verdicts.append(verdict)
                emit(verdict)
    finally:
        d.close()
    return verdicts


# ------------------------------------------------------------------ output


def format_verdict(v: Verdict, width: int = 80) -> str:
    """A few short lines: status, check and text; the fix indented below."""
    width = max(width, 32)
    lines = textwrap.wrap(f"{v.status:<4} {v.check}: {v.text}", width,
                          subsequent_indent=" " * 5, break_on_hyphens=False,
                          break_long_words=False)
    if v.fix:
        lines += textwrap.wrap(f"fix: {v.fix}", width, initial_indent=" " * 5,
                               subsequent_indent=" " * 10, break_on_hyphens=False,
                               break_long_words=False)
    return "\n".join(lines)


def summary(verdicts: list[Verdict]) -> str:
    count = {s: sum(v.status == s for v in verdicts) for s in (OK, WARN, FAIL, SKIP)}
    parts = [f"{count[FAIL]} failed"] if count[FAIL] else []
    parts += [f"{count[WARN]} to look at"] if count[WARN] else []
    parts += [f"{count[OK]} ok"] + ([f"{count[SKIP]} skipped"] if count[SKIP] else [])
    return ("FAILED: " if count[FAIL] else "all good: ") + ", ".join(parts)


def to_json(verdicts: list[Verdict]) -> str:
    return json.dumps({"ok": not any(v.status == FAIL for v in verdicts),
                       "verdicts": [asdict(v) for v in verdicts]}, indent=1)
