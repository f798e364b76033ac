"""``make install`` / ``make uninstall`` into a staging root (DESTDIR).

Every run here goes through :func:`make` or :func:`installer`, which refuse a
DESTDIR that is empty or "/": nothing in this file writes outside tmp_path.
The one test that runs the installer without DESTDIR does so as an
unprivileged user, to see it refuse.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from rig.config import load_config

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "install" / "install.py"
SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

spec = importlib.util.spec_from_file_location("rig_installer", SCRIPT)
installer_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(installer_module)

# Raspberry Pi OS Bookworm's /boot/firmware/config.txt, abridged.
BOOKWORM_CONFIG = """\
# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Run in 64-bit mode
arm_64bit=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""

INSTALLED = {
    "etc/sysusers.d/rig.conf": REPO / "install" / "sysusers.conf",
    "etc/systemd/system/rig.service": REPO / "systemd" / "rig.service",
    "etc/udev/rules.d/70-rig.rules": REPO / "install" / "70-rig.rules",
    "etc/modules-load.d/rig.conf": REPO / "install" / "modules-load.conf",
    "opt/rig/doc/install.md": REPO / "docs" / "install.md",
    "opt/rig/doc/operating.md": REPO / "docs" / "operating.md",
}
GVFS_MASK = "etc/systemd/user/gvfs-gphoto2-volume-monitor.service"
COMMAND = "usr/local/bin/rig"
AVAHI = "etc/avahi/services/rig.service"
CONFIG = "etc/rig/rig.toml"
BOOT = "boot/firmware/config.txt"


def _staging(destdir: Path) -> Path:
    destdir = Path(destdir)
    assert destdir.is_absolute() and destdir.resolve() != Path("/"), destdir
    return destdir


def make(action: str, destdir: Path, *, venv: bool = False) -> subprocess.CompletedProcess:
    """``make ACTION DESTDIR=destdir`` as a person would type it, staged."""
    cmd = ["make", "--no-print-directory", "-s", "-C", str(REPO), action,
           f"DESTDIR={_staging(destdir)}", f"SYSTEM_PYTHON={SYSTEM_PYTHON}"]
    if not venv:
        cmd.append("RIG_INSTALL_SKIP_VENV=1")
    env = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "RIG_INSTALL_SKIP_VENV")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def pi_root(tmp_path: Path, boot: str | None = BOOT) -> Path:
    root = tmp_path / "root"
    if boot is not None:
        (root / boot).parent.mkdir(parents=True)
        (root / boot).write_text(BOOKWORM_CONFIG)
    root.mkdir(exist_ok=True)
    return root


def manifest(root: Path) -> dict[str, tuple]:
    """Every path under root: kind, mode, mtime and content (or link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", st.st_mode & 0o7777, st.st_mtime_ns)
        else:
            out[rel] = ("file", st.st_mode & 0o7777, st.st_mtime_ns,
                        hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def files(root: Path) -> set[str]:
    return {rel for rel, entry in manifest(root).items() if entry[0] != "dir"}


# ----------------------------------------------------------------- install


def test_install_puts_every_file_in_place(tmp_path):
    root = pi_root(tmp_path)
    out = make("install", root).stdout
    for rel, source in INSTALLED.items():
        path = root / rel
        assert path.read_bytes() == source.read_bytes(), rel
        assert path.stat().st_mode & 0o7777 == 0o644, rel
        assert f"installed /{rel}" in out
    mask = root / GVFS_MASK
    assert mask.is_symlink() and os.readlink(mask) == "/dev/null"
    # rig on every PATH, sudo's too (sudo -u rig rig doctor).
    assert os.readlink(root / COMMAND) == "/opt/rig/venv/bin/rig"
    assert "linked /usr/local/bin/rig -> /opt/rig/venv/bin/rig" in out
    assert announced_port(root) == 8080 and f"installed /{AVAHI}" in out
    assert (root / CONFIG).stat().st_mode & 0o7777 == 0o644
    assert (root / "etc" / "rig").stat().st_mode & 0o7777 == 0o755
    # Exactly these, plus the edited boot config; no venv when it is skipped.
    assert files(root) == set(INSTALLED) | {GVFS_MASK, CONFIG, BOOT, COMMAND, AVAHI}
    assert "skipped /opt/rig/venv" in out
    assert "skipped systemd-sysusers, systemctl daemon-reload, udevadm control --reload, " \
           "systemctl enable rig.service" in out
    assert "reboot to turn on I2C" in out


def announced_port(root):
    """The port in the avahi service file (parsed as XML: avahi-daemon refuses bad XML)."""
    import xml.etree.ElementTree as ET
    tree = ET.parse(root / AVAHI).getroot()
    assert tree.tag == "service-group"
    assert tree.find("service/type").text == "_http._tcp"
    return int(tree.find("service/port").text)


def test_the_announcement_follows_the_configured_port_and_goes_when_the_page_is_off(tmp_path):
    root = pi_root(tmp_path)
    config = root / CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("[web]\nport = 9000\n")
    make("install", root)
    assert announced_port(root) == 9000
    config.write_text("[web]\nport = 8081\n")
    assert f"updated /{AVAHI}" in make("install", root).stdout
    assert announced_port(root) == 8081
    config.write_text("[web]\nenabled = false\n")
    out = make("install", root).stdout
    assert not (root / AVAHI).exists() and f"removed /{AVAHI}" in out


def test_someone_elses_usr_local_bin_rig_is_left_alone(tmp_path):
    root = pi_root(tmp_path)
    theirs = root / COMMAND
    theirs.parent.mkdir(parents=True)
    theirs.write_text("#!/bin/sh\necho another rig\n")
    out = make("install", root).stdout
    assert "left /usr/local/bin/rig alone" in out
    make("uninstall", root)
    assert theirs.read_text().endswith("another rig\n")


def test_the_sysusers_file_declares_the_user_and_its_groups():
    lines = [line.split() for line in INSTALLED["etc/sysusers.d/rig.conf"].read_text()
             .splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0][:2] == ["u", "rig"]
    assert [line for line in lines if line[0] == "m"] == [
        ["m", "rig", "gpio"], ["m", "rig", "i2c"], ["m", "rig", "plugdev"]]


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None,
                    reason="systemd-sysusers is not installed (Debian package: systemd)")
def test_sysusers_creates_the_user_and_missing_groups(tmp_path):
    """On a plain Debian (plugdev only), gpio and i2c are created for the unit."""
    fake = tmp_path / "debian"
    (fake / "etc").mkdir(parents=True)
    (fake / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (fake / "etc" / "group").write_text("root:x:0:\nplugdev:x:46:\n")
    proc = subprocess.run(["systemd-sysusers", f"--root={fake}",
                           str(INSTALLED["etc/sysusers.d/rig.conf"])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    user = next(line.split(":") for line in (fake / "etc" / "passwd").read_text().splitlines()
                if line.startswith("rig:"))
    assert user[5:] == ["/var/lib/rig", "/usr/sbin/nologin"] and int(user[2]) < 1000
    groups = {line.split(":")[0]: line.split(":") for line in
              (fake / "etc" / "group").read_text().splitlines()}
    assert groups["plugdev"][2] == "46"                      # the existing group, joined
    for name in ("gpio", "i2c", "plugdev"):
        assert "rig" in groups[name][3].split(","), name


def test_the_udev_rule_gives_ptp_cameras_to_plugdev():
    rules = [line for line in INSTALLED["etc/udev/rules.d/70-rig.rules"].read_text()
             .splitlines() if line and not line.startswith("#")]
    assert 'ENV{ID_USB_INTERFACES}=="*:060101:*", GROUP="plugdev", MODE="0660"' in rules
    assert 'ENV{ID_GPHOTO2}=="?*", GROUP="plugdev", MODE="0660"' in rules
    # Every GOTO lands on a LABEL, or udev skips the rest of the file.
    gotos = {part.split('"')[1] for line in rules for part in line.split(", ")
             if part.startswith("GOTO=")}
    labels = {line.split('"')[1] for line in rules if line.startswith("LABEL=")}
    assert gotos == labels == {"rig_end", "rig_usb_end"}


def test_running_it_again_changes_nothing(tmp_path):
    root = pi_root(tmp_path)
    make("install", root)
    before = manifest(root)
    out = make("install", root).stdout
    assert manifest(root) == before
    assert "installed" not in out and "updated" not in out and "masked /" not in out
    for rel in INSTALLED:
        assert f"/{rel} already up to date" in out
    assert f"/{GVFS_MASK} already masked" in out
    assert f"/{COMMAND} already points to /opt/rig/venv/bin/rig" in out
    assert f"/{AVAHI} already up to date" in out
    assert f"/{CONFIG} already present" in out
    assert f"/{BOOT} already turns on I2C" in out
    assert "reboot" not in out


def test_a_changed_file_is_updated(tmp_path):
    root = pi_root(tmp_path)
    make("install", root)
    unit = root / "etc/systemd/system/rig.service"
    unit.write_text("[Service]\nExecStart=/bin/false\n")
    unit.chmod(0o600)
    assert "updated /etc/systemd/system/rig.service" in make("install", root).stdout
    assert unit.read_bytes() == INSTALLED["etc/systemd/system/rig.service"].read_bytes()
    assert unit.stat().st_mode & 0o7777 == 0o644


# ------------------------------------------------------------ rig.toml


def test_the_default_config_is_the_defaults_commented_out(tmp_path):
    root = pi_root(tmp_path)
    make("install", root)
    text = (root / CONFIG).read_text()
    body = [line for line in text.splitlines() if line.strip()]
    assert all(line.startswith("#") for line in body)
    assert "packaged defaults" in text and "rig config check" in text
    assert tomllib.loads(text) == {}
    assert load_config(root / CONFIG).values == load_config().values
    # Uncommenting every setting line gives back exactly the defaults.
    uncommented = "\n".join(line[1:] if line.startswith("#") and line[1:2] not in (" ", "")
                            else line for line in text.splitlines())
    defaults = (REPO / "rig" / "data" / "defaults.toml").read_text()
    assert tomllib.loads(uncommented) == tomllib.loads(defaults)


def test_an_existing_config_is_never_overwritten(tmp_path):
    root = pi_root(tmp_path)
    config = root / CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("[ui]\nhold_time = 0.4\n")
    os.utime(config, ns=(1_000_000_000, 1_000_000_000))
    out = make("install", root).stdout
    assert config.read_text() == "[ui]\nhold_time = 0.4\n"
    assert config.stat().st_mtime_ns == 1_000_000_000
    assert f"/{CONFIG} already present: kept" in out


# --------------------------------------------------------- boot config

enable_i2c = installer_module.enable_i2c


def test_boot_config_uncomments_the_i2c_line_and_adds_the_speed(tmp_path):
    root = pi_root(tmp_path)
    make("install", root)
    lines = (root / BOOT).read_text().splitlines()
    at = lines.index("dtparam=i2c_arm=on")
    assert lines[at - 1] == "# Uncomment some or all of these to enable the optional " \
                            "hardware interfaces"
    assert lines[at + 1] == "dtparam=i2c_arm_baudrate=400000"
    assert "#dtparam=i2c_arm=on" not in lines
    assert sum("i2c_arm" in line for line in lines) == 2
    # Everything else is as it was.
    others = [line for line in lines if "i2c_arm" not in line]
    assert others == [line for line in BOOKWORM_CONFIG.splitlines() if "i2c_arm" not in line]


@pytest.mark.parametrize("before, after", [
    # an active line with another value is corrected, not duplicated
    ("dtparam=i2c_arm=off\n", "dtparam=i2c_arm=on\ndtparam=i2c_arm_baudrate=400000\n"),
    # several parameters on one line keep their neighbours
    ("dtparam=spi=on,i2c_arm=on,i2c_arm_baudrate=100000\n",
     "dtparam=spi=on,i2c_arm=on,i2c_arm_baudrate=400000\n"),
    # a commented speed is the place for the speed
    ("#dtparam=i2c_arm=on\nfoo=1\n# dtparam=i2c_arm_baudrate=100000\n",
     "dtparam=i2c_arm=on\nfoo=1\ndtparam=i2c_arm_baudrate=400000\n"),
    # no mention at all, ending in a [cm4] section: appended under [all]
    ("arm_64bit=1\n[cm4]\notg_mode=1\n",
     "arm_64bit=1\n[cm4]\notg_mode=1\n[all]\ndtparam=i2c_arm=on\n"
     "dtparam=i2c_arm_baudrate=400000\n"),
    # no mention, already in [all]: no second [all]
    ("[pi4]\nfoo=1\n[all]\n", "[pi4]\nfoo=1\n[all]\ndtparam=i2c_arm=on\n"
                               "dtparam=i2c_arm_baudrate=400000\n"),
    # already right: untouched
    ("dtparam=i2c_arm=on\ndtparam=i2c_arm_baudrate=400000\n",
     "dtparam=i2c_arm=on\ndtparam=i2c_arm_baudrate=400000\n"),
])
def test_boot_config_edits(before, after):
    assert enable_i2c(before) == after
    assert enable_i2c(after) == after


def test_legacy_boot_config_is_edited_where_it_is(tmp_path):
    root = pi_root(tmp_path, boot="boot/config.txt")
    out = make("install", root).stdout
    assert "dtparam=i2c_arm=on" in (root / "boot/config.txt").read_text().splitlines()
    assert "updated /boot/config.txt" in out
    assert not (root / BOOT).exists()


def test_without_a_boot_config_it_says_so_and_creates_none(tmp_path):
    root = pi_root(tmp_path, boot=None)
    out = make("install", root).stdout
    assert "not Raspberry Pi OS?" in out
    assert not (root / "boot").exists()


# ------------------------------------------------------------ uninstall


def test_uninstall_removes_only_what_install_added(tmp_path):
    root = pi_root(tmp_path)
    theirs = {
        "etc/udev/rules.d/99-com.rules": "SUBSYSTEM==\"gpio\", GROUP=\"gpio\"\n",
        "etc/systemd/system/other.service": "[Service]\nExecStart=/bin/true\n",
        "var/lib/rig/sequence.json": "{\"points\": []}\n",
        "var/lib/rig/calibrations/ef24.json": "{}\n",
        "opt/other/keep": "x\n",
    }
    for rel, text in theirs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    before = manifest(root)
    make("install", root)
    configured = (root / BOOT).read_text()
    out = make("uninstall", root).stdout
    # The operator's config stays, and so do the I2C lines; all else is as before.
    assert files(root) == {rel for rel, e in before.items() if e[0] != "dir"} | {CONFIG}
    for rel in theirs:
        assert manifest(root)[rel] == before[rel]
    assert (root / BOOT).read_text() == configured
    assert not (root / "opt" / "rig").exists()
    assert "kept /etc/rig/rig.toml" in out and "/var/lib/rig" in out
    assert "left I2C on in the boot config" in out
    for rel in [rel for rel in INSTALLED if not rel.startswith("opt/")] + [
            "opt/rig/doc", COMMAND, AVAHI]:
        assert f"removed /{rel}" in out
    again = make("uninstall", root).stdout
    assert "/etc/systemd/system/rig.service already gone" in again


def test_uninstall_leaves_a_local_gvfs_unit_alone(tmp_path):
    root = pi_root(tmp_path)
    local = root / GVFS_MASK
    local.parent.mkdir(parents=True)
    local.write_text("[Service]\nExecStart=/usr/libexec/gvfs-gphoto2-volume-monitor\n")
    assert f"left /{GVFS_MASK} alone" in make("install", root).stdout
    make("uninstall", root)
    assert local.read_text().startswith("[Service]")


# ---------------------------------------------------------- real root


def test_without_destdir_it_needs_root():
    """Run as nobody (or as the unprivileged user running the tests).

    Nobody gets a copy of the script in a folder anyone may read: the
    checkout and pytest's tmp_path may be folders only root can enter (a
    clone in a ``mktemp -d`` folder, mode 0700, or a umask of 077), and the
    refusal comes before the script reads anything beside itself.
    """
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
    with tempfile.TemporaryDirectory(prefix="rig-install-test-") as folder:
        os.chmod(folder, 0o755)
        script = Path(folder) / "install.py"
        shutil.copyfile(SCRIPT, script)
        script.chmod(0o644)
        cmd = [SYSTEM_PYTHON, str(script), "install", "--destdir", ""]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root and setpriv (util-linux) is missing to drop it")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder,
                              timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "install.py: error: installing rig on this system needs root: run "
        "`sudo make install` (or give DESTDIR=/a/staging/root)"]


def test_on_the_real_root_the_system_steps_run_in_order(tmp_path, monkeypatch, capsys):
    """The real-root branch, in process, its files in tmp_path and every command
    recorded instead of run (all of them go through ``run``)."""
    commands = []
    monkeypatch.setattr(installer_module, "run", lambda cmd, what: commands.append(cmd))
    monkeypatch.setattr(installer_module.subprocess, "run", None)   # nothing else may
    target = installer_module.Target(str(_staging(pi_root(tmp_path))))
    target.staging = False                       # as if DESTDIR were empty
    installer_module.install(target, python=sys.executable, skip_venv=True)
    assert commands == [
        ["systemd-sysusers", "/etc/sysusers.d/rig.conf"],
        ["systemctl", "daemon-reload"],
        ["udevadm", "control", "--reload"],
        ["udevadm", "trigger", "--action=change", "--subsystem-match=usb",
         "--subsystem-match=gpio", "--subsystem-match=i2c-dev"],
        ["systemctl", "enable", "rig.service"],
    ]
    out = capsys.readouterr().out
    assert "enabled rig.service" in out and "reboot to turn on I2C" in out
    commands.clear()
    installer_module.install(target, python=sys.executable, skip_venv=True)
    assert "start it now: sudo systemctl restart rig" in capsys.readouterr().out
    commands.clear()
    installer_module.uninstall(target)
    assert commands == [["systemctl", "disable", "--now", "rig.service"],
                        ["systemctl", "daemon-reload"], ["udevadm", "control", "--reload"]]


# ----------------------------------------------------------------- venv


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="no system Python")
def test_the_venv_runs_rig_and_is_kept_when_up_to_date(tmp_path):
    """The real venv: pip installs this checkout and its dependencies (~10 s)."""
    root = pi_root(tmp_path)
    out = make("install", root, venv=True).stdout
    venv = root / "opt" / "rig" / "venv"
    assert "created /opt/rig/venv" in out and "installed rig into /opt/rig/venv" in out
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    help_text = subprocess.run([str(venv / "bin" / "rig"), "--help"], capture_output=True,
                               text=True, timeout=60, cwd=tmp_path)
    assert help_text.returncode == 0 and "simulate" in help_text.stdout
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import rig.notify, gphoto2, gpiozero, luma.oled; "
                            "print(rig.notify.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(venv))           # not the checkout
    assert not list(REPO.glob("build/lib*")) and not (REPO / "rig-source").exists()

    before = manifest(root)
    out = make("install", root, venv=True).stdout
    assert "/opt/rig/venv already up to date" in out
    assert manifest(root) == before

    if shutil.which("systemd-analyze"):
        # ExecStart now exists for real in the staging root.
        sys.path.insert(0, str(REPO / "bench"))
        import unit_security
        checked = unit_security.verify(unit_security.stage_root(root, stub_exec=False))
        assert (checked.returncode, checked.output) == (0, "")

    make("uninstall", root)
    assert not venv.exists()
