#!/usr/bin/env python3
"""Install rig as the service a Raspberry Pi boots into, or remove it.

``sudo make install`` and ``sudo make uninstall`` run this with the system's
Python; docs/install.md tells the whole story.  Every step checks before it
acts, so running it again changes nothing and says so, and ``DESTDIR`` (a
staging root; ``--destdir``) confines every write to that directory: the
system-wide steps (creating the user, reloading systemd and udev, enabling
the service) run only when installing to the real root, as root.

``RIG_INSTALL_SKIP_VENV=1`` (or ``--skip-venv``) leaves out the virtual
environment, the one slow step.  Uses the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "install"

VENV = "/opt/rig/venv"
DOC_DIR = "/opt/rig/doc"
DOCS = ("install.md", "operating.md")            # Documentation= in the unit
UNIT = "/etc/systemd/system/rig.service"
UDEV_RULE = "/etc/udev/rules.d/70-rig.rules"
SYSUSERS = "/etc/sysusers.d/rig.conf"
MODULES = "/etc/modules-load.d/rig.conf"
CONFIG = "/etc/rig/rig.toml"
STATE_DIR = "/var/lib/rig"
# `rig` on every PATH (sudo's secure_path too): `sudo -u rig rig doctor`.
COMMAND = "/usr/local/bin/rig"
COMMAND_TARGET = f"{VENV}/bin/rig"
# The web page, announced by avahi-daemon (mDNS / DNS-SD) on its port.
AVAHI = "/etc/avahi/services/rig.service"
CONSTRAINTS = "constraints.txt"                  # the pinned versions (tools/pins.py)
# `systemctl --global mask` of the desktop's gphoto2 volume monitor: it claims
# every camera plugged in, and libgphoto2 then fails with "Could not claim the
# USB device" (-53).  Raspberry Pi OS Lite has no gvfs; the mask costs nothing.
GVFS_MASK = "/etc/systemd/user/gvfs-gphoto2-volume-monitor.service"
# Bookworm moved the firmware partition; /boot/config.txt is then a stub.
BOOT_CONFIGS = ("/boot/firmware/config.txt", "/boot/config.txt")
I2C_PARAMS = (("i2c_arm", "on"), ("i2c_arm_baudrate", "400000"))
VENV_STAMP = "rig-source.sha256"                 # which sources the venv holds


class InstallError(Exception):
    """A step that cannot be done: one line for the person at the terminal."""


def say(line: str) -> None:
    print(line, flush=True)


class Target:
    """The root being installed into: "/" or a staging directory (DESTDIR)."""

    def __init__(self, destdir: str) -> None:
        self.staging = bool(destdir) and Path(destdir).resolve() != Path("/")
        self.root = Path(destdir).resolve() if self.staging else Path("/")

    def __call__(self, system_path: str) -> Path:
        """Where ``system_path`` (as the Pi will see it) lives in this root."""
        return self.root / system_path.lstrip("/")

    def show(self, path: Path) -> str:
        """A path as it will be on the Pi."""
        return "/" + str(path.relative_to(self.root)) if self.staging else str(path)


# ----------------------------------------------------------------- files


def _atomic_write(path: Path, data: bytes, mode: int, *, strict_mode: bool = True) -> None:
    """Write ``path`` so that a power cut leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, mode)
        except PermissionError:
            if strict_mode:        # only the FAT boot partition has no modes to set
                raise
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def put_file(t: Target, system_path: str, data: bytes, mode: int = 0o644) -> bool:
    """Install ``data`` at ``system_path`` unless it is already there. True if written."""
    path = t(system_path)
    if path.is_file() and not path.is_symlink():
        if path.read_bytes() == data and (path.stat().st_mode & 0o7777) == mode:
            say(f"{system_path} already up to date")
            return False
        verb = "updated"
    else:
        if path.is_symlink() or path.exists():
            raise InstallError(f"{t.show(path)} is not a regular file: move it away first")
        verb = "installed"
    _atomic_write(path, data, mode)
    say(f"{verb} {system_path}")
    return True


def put_symlink(t: Target, system_path: str, target: str) -> None:
    """``system_path`` -> ``target`` (as the Pi sees it), unless something else is there."""
    path = t(system_path)
    if path.is_symlink() and os.readlink(path) == target:
        say(f"{system_path} already points to {target}")
        return
    if path.is_symlink() or path.exists():
        say(f"left {system_path} alone: it is not rig's link to {target}; "
            f"run {target} by its full path")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    say(f"linked {system_path} -> {target} (rig on every PATH)")


def _web_setting(t: Target) -> dict:
    """``[web]`` of the installed config laid over the packaged defaults (the
    installer cannot import rig: it runs on the system's Python)."""
    web = tomllib.loads((REPO / "rig" / "data" / "defaults.toml").read_text())["web"]
    path = t(CONFIG)
    try:
        mine = tomllib.loads(path.read_text()).get("web", {})
    except FileNotFoundError:
        mine = {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InstallError(f"{CONFIG} does not read ({exc}): rig config check says "
                           "where") from None
    return {**web, **(mine if isinstance(mine, dict) else {})}


def announce_web(t: Target) -> None:
    """The avahi service file that announces the web page on its port, or none when
    the page is off (or on a port chosen at start)."""
    web = _web_setting(t)
    port = web.get("port")
    if not web.get("enabled") or not isinstance(port, int) or port <= 0:
        if t(AVAHI).exists():
            _remove(t, AVAHI)
        say(f"no {AVAHI}: the web page is off or has no fixed port (web in {CONFIG})")
        return
    text = (HERE / "rig.avahi.service").read_text().replace("{port}", str(port))
    put_file(t, AVAHI, text.encode())


def mask_gvfs(t: Target) -> None:
    path = t(GVFS_MASK)
    if path.is_symlink() and os.readlink(path) == "/dev/null":
        say(f"{GVFS_MASK} already masked")
        return
    if path.is_symlink() or path.exists():
        say(f"left {GVFS_MASK} alone: it is a local unit, not a mask; if the desktop "
            f"grabs the camera, mask it with `systemctl --global mask` yourself")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/null")
    say(f"masked {GVFS_MASK} (the desktop no longer grabs the camera)")


# --------------------------------------------------------- default config


def commented_config(defaults: str) -> str:
    """rig/data/defaults.toml with every setting commented out, under a new header.

    The defaults' own opening comment (about being the packaged defaults)
    gives way to one about this file; comments stay as they are, and each
    table and key gets a ``#`` in front, so removing that one ``#`` from a
    line (and from its [section] line) is all it takes to change a setting.
    """
    lines = defaults.splitlines()
    while lines and lines[0].startswith("#"):   # the defaults' header
        lines.pop(0)
    while lines and not lines[0].strip():
        lines.pop(0)
    header = [
        "# /etc/rig/rig.toml: the settings of this rig.",
        "#",
        "# rig lays this file over its packaged defaults, which are copied below with",
        "# every setting commented out.  To change one, remove the '#' in front of it",
        "# and in front of its [section] line; everything left commented keeps its",
        "# default.  `rig config check` validates the file; then restart the service:",
        "# `sudo systemctl restart rig`.",
        "#",
        "# `make install` wrote this file once and never overwrites it; `make",
        "# uninstall` leaves it here.",
        "",
    ]
    body = [line if not line.strip() or line.lstrip().startswith("#") else "#" + line
            for line in lines]
    return "\n".join(header + body) + "\n"


def install_config(t: Target) -> None:
    path = t(CONFIG)
    if path.exists() or path.is_symlink():
        say(f"{CONFIG} already present: kept as it is")
        return
    defaults = (REPO / "rig" / "data" / "defaults.toml").read_text()
    _atomic_write(path, commented_config(defaults).encode(), 0o644)
    say(f"installed {CONFIG} (every setting commented out: the defaults apply)")


# ------------------------------------------------------------ boot config

_DTPARAM = re.compile(r"^\s*(#\s*)?dtparam=(.*?)\s*$")
_SECTION = re.compile(r"^\s*\[(.*)\]\s*$")


def _dtparams(line: str) -> tuple[bool, list[str]] | None:
    """(commented, ["name=value", ...]) for a dtparam line, else None."""
    match = _DTPARAM.match(line)
    if match is None:
        return None
    return bool(match.group(1)), [p.strip() for p in match.group(2).split(",") if p.strip()]


def _param_name(param: str) -> str:
    return param.split("=", 1)[0].strip()


def set_dtparam(lines: list[str], name: str, value: str, *, after: str | None = None
                ) -> list[str]:
    """Make config.txt set ``dtparam=name=value``, the way raspi-config would.

    Every active line that sets ``name`` gets the new value (a later line
    would override an earlier one); otherwise the first commented-out line
    for it (``#dtparam=i2c_arm=on``) becomes the setting; otherwise a new line
    goes right after the active line that sets ``after``, or at the end, in
    an ``[all]`` section.
    """
    lines = list(lines)
    found = False
    for i, line in enumerate(lines):
        parsed = _dtparams(line)
        if parsed is None or parsed[0]:
            continue
        params = parsed[1]
        if any(_param_name(p) == name for p in params):
            found = True
            new = [f"{name}={value}" if _param_name(p) == name else p for p in params]
            if new != params:
                lines[i] = "dtparam=" + ",".join(new)
    if found:
        return lines
    for i, line in enumerate(lines):
        parsed = _dtparams(line)
        if parsed is not None and parsed[0] and any(_param_name(p) == name
                                                    for p in parsed[1]):
            lines[i] = f"dtparam={name}={value}"
            return lines
    if after is not None:
        for i in range(len(lines) - 1, -1, -1):
            parsed = _dtparams(lines[i])
            if parsed is not None and not parsed[0] and any(
                    _param_name(p) == after for p in parsed[1]):
                lines.insert(i + 1, f"dtparam={name}={value}")
                return lines
    sections = [m.group(1).strip() for m in map(_SECTION.match, lines) if m]
    if sections and sections[-1] != "all":
        lines.append("[all]")
    lines.append(f"dtparam={name}={value}")
    return lines


def enable_i2c(text: str) -> str:
    """config.txt with I2C on at 400 kHz (the OLED redraws 4x faster than at 100)."""
    lines = text.splitlines()
    for name, value in I2C_PARAMS:
        lines = set_dtparam(lines, name, value, after="i2c_arm")
    return "\n".join(lines) + "\n"


def configure_boot(t: Target) -> bool:
    """Turn on I2C in the firmware config. True if a reboot is needed for it."""
    system_path = next((p for p in BOOT_CONFIGS if t(p).is_file()), None)
    if system_path is None:
        say(f"no {' or '.join(BOOT_CONFIGS)} here (not Raspberry Pi OS?): turn on I2C "
            f"at 400 kHz yourself (dtparam=i2c_arm=on, dtparam=i2c_arm_baudrate=400000)")
        return False
    path = t(system_path)
    raw = path.read_bytes()
    old = raw.decode("utf-8", errors="surrogateescape")
    new = enable_i2c(old)
    if new == old:
        say(f"{system_path} already turns on I2C at 400 kHz")
        return False
    _atomic_write(path, new.encode("utf-8", errors="surrogateescape"),
                  path.stat().st_mode & 0o7777, strict_mode=False)
    say(f"updated {system_path}: I2C on at 400 kHz (from the next boot)")
    return True


# ------------------------------------------------------------------ venv

_SOURCE_FILES = ("pyproject.toml", "README.md", CONSTRAINTS)


def _sources() -> list[Path]:
    files = [REPO / name for name in _SOURCE_FILES]
    files += sorted(p for p in (REPO / "rig").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts)
    return files


def source_digest() -> str:
    """What pip would install from this checkout, as one hash."""
    h = hashlib.sha256()
    for path in _sources():
        h.update(str(path.relative_to(REPO)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _venv_usable(venv: Path) -> bool:
    cfg = venv / "pyvenv.cfg"
    if not cfg.is_file() or "include-system-site-packages = true" not in cfg.read_text():
        return False
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "pass"],
                           capture_output=True)
    return probe.returncode == 0


def run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    except FileNotFoundError:
        raise InstallError(f"{what}: {cmd[0]} not found") from None
    if proc.returncode != 0:
        tail = proc.stdout.strip().splitlines()[-1:] or ["no output"]
        raise InstallError(f"{what} failed (`{' '.join(cmd)}` exited {proc.returncode}): "
                           f"{tail[0]}")


def install_venv(t: Target, python: str) -> bool:
    """The venv with rig from this checkout. True if rig was (re)installed."""
    venv = t(VENV)
    if not _venv_usable(venv):
        # --system-site-packages: Raspberry Pi OS ships lgpio (which gpiozero
        # needs on a Pi 5) as the apt package python3-lgpio, not on PyPI for
        # every Pi; the venv sees it and everything else apt installed.
        run([python, "-m", "venv", "--clear", "--system-site-packages", str(venv)],
            f"creating {VENV}")
        say(f"created {VENV} (with the system's packages, e.g. python3-lgpio)")
    stamp = venv / VENV_STAMP
    digest = source_digest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        say(f"{VENV} already up to date (rig from this checkout)")
        return False
    with tempfile.TemporaryDirectory(prefix="rig-install-") as tmp:
        # pip builds in the source tree; building a copy keeps root-owned
        # build/ and *.egg-info out of the operator's clone.
        copy = Path(tmp) / "rig-source"
        for path in _sources():
            dest = copy / path.relative_to(REPO)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        # The versions the tests ran against, not whatever is newest today.
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-c", str(copy / CONSTRAINTS), str(copy)],
            f"installing rig into {VENV}")
    _atomic_write(stamp, (digest + "\n").encode(), 0o644)
    say(f"installed rig into {VENV}")
    lgpio = subprocess.run([str(venv / "bin" / "python"), "-c", "import lgpio"],
                           capture_output=True)
    if lgpio.returncode != 0:
        say("note: the venv finds no lgpio, which gpiozero needs for the buttons on a "
            "Pi 5 (and uses first on any Pi): sudo apt install python3-lgpio")
    return True


# -------------------------------------------------------------- commands

SYSTEM_STEPS = ("systemd-sysusers", "systemctl daemon-reload", "udevadm control --reload",
                "systemctl enable rig.service")


def install(t: Target, *, python: str, skip_venv: bool) -> None:
    say(f"installing rig into {t.root}"
        + (" (a staging root: no user is created, nothing is enabled)" if t.staging else ""))
    put_file(t, SYSUSERS, (HERE / "sysusers.conf").read_bytes())
    if not t.staging:
        run(["systemd-sysusers", SYSUSERS], "creating the rig user")
        say("user rig and groups gpio, i2c, plugdev in place (systemd-sysusers)")
    if skip_venv:
        say(f"skipped {VENV} (RIG_INSTALL_SKIP_VENV=1)")
        updated = False
    else:
        updated = install_venv(t, python)
    for name in DOCS:
        put_file(t, f"{DOC_DIR}/{name}", (REPO / "docs" / name).read_bytes())
    put_file(t, UNIT, (REPO / "systemd" / "rig.service").read_bytes())
    put_file(t, UDEV_RULE, (HERE / "70-rig.rules").read_bytes())
    new_module = put_file(t, MODULES, (HERE / "modules-load.conf").read_bytes())
    mask_gvfs(t)
    install_config(t)
    put_symlink(t, COMMAND, COMMAND_TARGET)
    announce_web(t)
    reboot = configure_boot(t) | new_module
    if t.staging:
        say(f"staging root: skipped {', '.join(SYSTEM_STEPS)} (they run on the Pi itself)")
    else:
        run(["systemctl", "daemon-reload"], "reloading systemd")
        run(["udevadm", "control", "--reload"], "reloading udev rules")
        # Apply the rules to what is already plugged in (a camera, the chips).
        run(["udevadm", "trigger", "--action=change", "--subsystem-match=usb",
             "--subsystem-match=gpio", "--subsystem-match=i2c-dev"], "applying udev rules")
        run(["systemctl", "enable", "rig.service"], "enabling rig.service")
        say("enabled rig.service: it starts at every boot")
    if reboot:
        say("reboot to turn on I2C for the OLED: sudo reboot (rig then starts by itself)")
    elif not t.staging:
        say("start it now" + (" with the new version" if updated else "")
            + ": sudo systemctl restart rig")


def _remove(t: Target, system_path: str) -> None:
    path = t(system_path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()
    else:
        say(f"{system_path} already gone")
        return
    say(f"removed {system_path}")


def uninstall(t: Target) -> None:
    say(f"removing rig from {t.root}")
    unit_present = t(UNIT).exists()
    if not t.staging and unit_present:
        run(["systemctl", "disable", "--now", "rig.service"], "stopping rig.service")
        say("stopped and disabled rig.service")
    for system_path in (UNIT, UDEV_RULE, SYSUSERS, MODULES, VENV, DOC_DIR, AVAHI):
        _remove(t, system_path)
    command = t(COMMAND)
    if command.is_symlink() and os.readlink(command) == COMMAND_TARGET:
        _remove(t, COMMAND)
    mask = t(GVFS_MASK)
    if mask.is_symlink() and os.readlink(mask) == "/dev/null":
        _remove(t, GVFS_MASK)
    opt = t("/opt/rig")
    if opt.is_dir() and not any(opt.iterdir()):
        opt.rmdir()
    if not t.staging:
        run(["systemctl", "daemon-reload"], "reloading systemd")
        run(["udevadm", "control", "--reload"], "reloading udev rules")
    say(f"kept {CONFIG} (your settings) and {STATE_DIR} (calibrations and the sequence): "
        f"delete them yourself if you want them gone")
    say("kept the user rig (it owns those files): `sudo userdel rig` removes it")
    say("left I2C on in the boot config: other hardware may use it")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="install.py", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=("install", "uninstall"))
    p.add_argument("--destdir", default=os.environ.get("DESTDIR", ""),
                   help="a staging root to install into (default: $DESTDIR, else /)")
    p.add_argument("--python", default=sys.executable,
                   help="the Python the venv is made from (default: this one)")
    p.add_argument("--skip-venv", action="store_true",
                   default=os.environ.get("RIG_INSTALL_SKIP_VENV") == "1",
                   help="leave out the venv (also RIG_INSTALL_SKIP_VENV=1)")
    args = p.parse_args(argv)
    os.umask(0o022)       # whatever sudo brought along: the rig user must read it all
    t = Target(args.destdir)
    if not t.staging and os.geteuid() != 0:
        print(f"install.py: error: {args.action}ing rig on this system needs root: "
              f"run `sudo make {args.action}` (or give DESTDIR=/a/staging/root)",
              file=sys.stderr)
        return 1
    try:
        if args.action == "install":
            install(t, python=args.python, skip_venv=args.skip_venv)
        else:
            uninstall(t)
    except InstallError as exc:
        print(f"install.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
