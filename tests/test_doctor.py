"""``rig doctor`` on the simulator: a verdict and a fix for each thing the rig needs.

The simulated body starts the way a profile's ``[body]`` says (lens switch,
live view, mode, cable, gvfs), so each story is a profile.  The host checks
(service, OLED, GPIO) run against stand-ins a test controls: a fake
``systemctl`` on a path, a ``/dev`` in a temporary directory, gpiozero's
``MockFactory``.  The real libgphoto2 story is in ``test_libgphoto2.py``.
"""

import json
import re
import socket
import stat

import pytest
from gpiozero import Device, DigitalInputDevice
from gpiozero.pins.mock import MockFactory, MockPin

import rig.address
import rig.doctor
from rig.cli import main
from rig.clock import VirtualClock
from rig.config import Config, load_config
from rig.doctor import (FAIL, OK, SKIP, STOP_SERVICE, WARN, Doctor, Verdict, check_camera,
                        check_gpio, check_oled, check_service, check_web, format_verdict, run)
from rig.sim import PROFILES
from rig.store import Store
from rig.web import token_for, token_path

# The legacy EF 24mm, named: the verdicts quote its numbers exactly (320x224 frames,
# sizes 1 / 4 / 26 whole steps) and the blank picture below edits its plane's keys.
LEGACY = PROFILES / "canon-ef24.toml"
CANON = LEGACY.read_text()


@pytest.fixture(autouse=True)
def host(monkeypatch, tmp_path):
    """No systemd, a fresh mock GPIO, and a wide terminal unless a test says otherwise."""
    monkeypatch.setattr(rig.doctor, "SYSTEMD_RUN", tmp_path / "no-systemd")
    monkeypatch.setattr(Device, "pin_factory", MockFactory())
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def calibrated(tmp_path_factory, calibrations):
    """A state directory holding the legacy lens's calibration (measured once a session)."""
    return calibrations.state_dir(LEGACY, tmp_path_factory.mktemp("calibrated"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text(f'[display]\ndriver = "none"\n[web]\nhost = "127.0.0.1"\n'
                    f'port = {free_port()}\n')
    return path


def profile(tmp_path, text=CANON, name="p.toml", **body):
    """A profile file: ``text`` with a [body] table of the switches given."""
    lines = [f"{k} = {str(v).lower()}" for k, v in body.items()]
    path = tmp_path / name
    path.write_text(text + ("\n[body]\n" + "\n".join(lines) + "\n" if lines else ""))
    return path


def doctor(capsys, camera, config, state):
    code = main(["doctor", "--camera", f"sim:{camera}", "--config", str(config),
                 "--state-dir", str(state), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] == (code == 0)
    return code, {v["check"]: (v["status"], v["text"], v["fix"]) for v in out["verdicts"]}


def test_a_good_rig_on_the_simulator(capsys, config, calibrated):
    code, v = doctor(capsys, LEGACY, config, calibrated)
    assert code == 0
    assert v["config"] == (OK, f"{config}, valid", "")
    assert v["service"] == (SKIP, "systemd is not running on this machine", "")
    assert v["camera"] == (OK, "Canon EOS 5D Mark III (simulated)", "")
    assert v["lens"] == (OK, "Canon EF 24mm f/2.8 IS USM", "")
    assert v["drive"] == (OK, "canon family: steps of sizes 1, 2, 3; silent at the stops; "
                              "no position feedback", "")
    assert v["live view"] == (OK, "320x224 frames (it was off: turned on, as rig does at "
                                  "every start)", "")
    assert re.fullmatch(r"407 steps; sizes 1 / 4 / 26; 20\d\d-\d\d-\d\d; focuses from 0.2 m",
                        v["calibration"][1])
    assert v["lens on AF"][0] == OK
    assert v["lens on AF"][1].startswith("a test drive moves the lens (live view: picture "
                                         "changed ")
    assert v["OLED"] == (SKIP, 'off in the config (display.driver = "none")', "")
    assert v["GPIO"] == (OK, "8 pins free, none pressed", "")
    port = load_config(config)["web"]["port"]
    assert v["web"] == (OK, f"http://127.0.0.1:{port}/?token={token_for(calibrated)}", "")


def test_the_printed_verdicts_fit_a_phone(capsys, config, calibrated, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    camera = profile(calibrated.parent, af=False)
    assert main(["doctor", "--camera", f"sim:{camera}", "--config", str(config),
                 "--state-dir", str(calibrated)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 40 or len(line.split()) == 1 for line in out)
    assert "FAIL lens on AF: the lens does not move" in out
    assert "     fix: set the lens switch to AF" in out
    assert out[-1] == "FAILED: 1 failed, 8 ok, 2 skipped"


def test_it_ends_with_a_qr_code_of_the_page_with_its_token(capsys, config, calibrated):
    """The QR code a phone scans, as text: read back module by module, it is the
    code of the page's address with the token, and a decoder reads that link."""
    import zxingcpp
    from PIL import Image
    from rig.address import qr_link, qr_matrix
    assert main(["doctor", "--camera", f"sim:{LEGACY}", "--config", str(config),
                 "--state-dir", str(calibrated)]) == 0
    out = capsys.readouterr().out.splitlines()
    port = load_config(config)["web"]["port"]
    link = qr_link(f"http://127.0.0.1:{port}/", token_for(calibrated))
    start = next(i for i, line in enumerate(out) if line.startswith("the web page on a phone"))
    assert link in " ".join(out[start:start + 3]).replace(" ", "")
    art = [line for line in out[start:] if line and set(line) <= set("█▀▄ ")]
    # Each character is two modules, upper and lower; drawn (light) where not dark.
    lower, upper = {"█": (0, 0), "▀": (0, 1), "▄": (1, 0), " ": (1, 1)}, None
    rows = []
    for line in art:
        rows.append([lower[c][0] for c in line])
        rows.append([lower[c][1] for c in line])
    size = len(qr_matrix(link))
    modules = [row[2:2 + size] for row in rows[2:2 + size]]
    assert modules == [[int(m) for m in row] for row in qr_matrix(link)]
    picture = Image.new("L", (len(rows[0]) * 8, len(rows) * 8), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                picture.paste(0, (x * 8, y * 8, x * 8 + 8, y * 8 + 8))
    assert [code.text for code in zxingcpp.read_barcodes(picture)] == [link]
    assert out[-1] == "all good: 9 ok, 2 skipped"


@pytest.mark.parametrize("with_calibration", [True, False], ids=["calibrated", "new lens"])
def test_lens_on_mf(capsys, config, calibrated, tmp_path, with_calibration):
    state = calibrated if with_calibration else tmp_path / "new"
    code, v = doctor(capsys, profile(tmp_path, af=False), config, state)
    assert code == 1
    status, text, fix = v["lens on AF"]
    assert status == FAIL and fix == "set the lens switch to AF"
    assert text.startswith("the lens does not move when driven (live view: picture changed ")
    assert v["camera"][0] == v["drive"][0] == v["live view"][0] == OK
    assert v["calibration"][0] == (OK if with_calibration else WARN)


def test_a_new_lens_is_not_a_failure(capsys, config, tmp_path):
    code, v = doctor(capsys, LEGACY, config, tmp_path / "new")
    assert code == 0
    assert v["calibration"] == (WARN, "none yet for this camera and lens",
                                "rig calibrates it at its next start (minutes; aim at a still "
                                "scene with detail), or: rig lenses import FILE")
    assert v["lens on AF"][0] == OK


def test_live_view_already_on_is_not_turned_on(capsys, config, calibrated, tmp_path):
    code, v = doctor(capsys, profile(tmp_path, liveview=True), config, calibrated)
    assert code == 0 and v["live view"] == (OK, "320x224 frames", "")


def test_a_mode_that_forbids_driving(capsys, config, calibrated, tmp_path):
    code, v = doctor(capsys, profile(tmp_path, mode_ok=False), config, calibrated)
    assert code == 1
    assert v["lens on AF"] == (FAIL, "the camera refuses to drive focus (The camera is in a "
                                     "mode that does not allow focus drive.)",
                               "set a mode that allows it (live view, movie or M)")


@pytest.mark.parametrize("switch,text,fix", [
    ({"present": False}, "no camera on USB", "plug it in and switch it on"),
    ({"claimed": True}, "USB held by another program", "gio mount -s gphoto2"),
])
def test_no_camera_and_the_rest_is_skipped(capsys, config, calibrated, tmp_path, switch, text,
                                           fix):
    code, v = doctor(capsys, profile(tmp_path, **switch), config, calibrated)
    assert code == 1
    assert v["camera"] == (FAIL, text, fix)
    assert "lens" not in v and "drive" not in v
    assert v["live view"] == (SKIP, "needs the camera", "")
    assert v["calibration"][0] == v["lens on AF"][0] == SKIP
    assert v["GPIO"][0] == OK                   # the checks that need no camera still run


@pytest.mark.parametrize("name,drive,seen", [
    ("nikon-d750.toml", "nikon family: signed motor units; says when at a stop; "
                        "no position feedback", "live view"),
    ("fuji-gfx.toml", "fuji family: absolute positions; silent at the stops; reports its "
                      "position", "camera reading"),
    ("sony-a7.toml", "sony family: steps of sizes 1, 2, 3; silent at the stops; reports its "
                     "position", "live view"),
])
def test_other_families_new_lens(capsys, config, tmp_path, name, drive, seen):
    code, v = doctor(capsys, PROFILES / name, config, tmp_path / "new")
    assert code == 0
    assert v["drive"] == (OK, drive, "")
    assert v["lens on AF"][1].startswith(f"a test drive moves the lens ({seen}: ")


def test_a_lens_on_its_far_stop_is_seen_moving_the_other_way(capsys, config, tmp_path):
    camera = profile(tmp_path, CANON.replace("start = 180", "start = 407"))
    code, v = doctor(capsys, camera, config, tmp_path / "new")
    assert code == 0 and v["lens on AF"][0] == OK


def test_a_featureless_picture_cannot_tell(capsys, config, tmp_path):
    blank = CANON.replace("blur_per_step = 0.06", "blur_per_step = 40").replace(
        "noise = 2.0", "noise = 0").replace("subject = 250", "subject = 0")
    code, v = doctor(capsys, profile(tmp_path, blank), config, tmp_path / "new")
    assert code == 0                            # a warning, not a failure
    assert v["lens on AF"] == (WARN, "cannot tell: the picture has too little detail",
                               "point the camera at something with detail, run rig doctor "
                               "again")


def test_a_damaged_calibration_is_named(capsys, config, calibrated, tmp_path):
    import shutil
    state = tmp_path / "state"
    shutil.copytree(calibrated, state)
    saved = next((state / "lenses").glob("*.json"))
    saved.write_text('{"lens": "x", "steps": 407, "drive": []}')
    code, v = doctor(capsys, LEGACY, config, state)
    assert code == 1
    assert v["calibration"][:2] == (FAIL, f"{saved}: drive: must list at least one "
                                          "{size, steps, speed}")


def test_a_damaged_calibration_with_a_good_backup_is_a_warning(capsys, config, calibrated,
                                                                 tmp_path):
    import shutil
    state = tmp_path / "state"
    shutil.copytree(calibrated, state)
    saved = next((state / "lenses").glob("*.json"))
    shutil.copy(saved, saved.with_name(saved.name + ".bak"))
    saved.write_text('{"lens": "x", "ste')
    code, v = doctor(capsys, LEGACY, config, state)
    assert v["calibration"][0] == WARN and "using the backup" in v["calibration"][1]
    assert saved.read_text() == '{"lens": "x", "ste'          # doctor changes nothing


def test_a_bad_config_is_a_failure_and_the_rest_runs_on_defaults(capsys, tmp_path, calibrated):
    bad = tmp_path / "rig.toml"
    bad.write_text("[buttons]\nb = 5\n")
    code, v = doctor(capsys, LEGACY, bad, calibrated)
    assert code == 1
    assert v["config"][:2] == (FAIL, f"{bad}:2: buttons.b: GPIO5 is already used by "
                                     "buttons.a (a default) (the checks below use the "
                                     "packaged defaults)")
    assert v["camera"][0] == OK and v["GPIO"][0] == OK


# ------------------------------------------------------------- host checks


def sim_doctor(tmp_path, **kw):
    clock = VirtualClock()
    return Doctor(load_config(), lambda: None, clock, Store(tmp_path / "state"), **kw)


def fake_systemctl(tmp_path, active, enabled, enabled_code=0, stderr=""):
    """A systemctl that answers is-active and is-enabled as a real one does."""
    path = tmp_path / "systemctl"
    path.write_text(f"""#!/bin/sh
case "$1" in
  is-active) echo "{active}"; [ "{active}" = active ] && exit 0 || exit 3 ;;
  is-enabled) [ -n "{enabled}" ] && echo "{enabled}"; [ -n "{stderr}" ] && echo "{stderr}" >&2
              exit {enabled_code} ;;
esac
exit 1
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("active,enabled,code,stderr,verdict", [
    ("active", "enabled", 0, "", (OK, "running; starts at boot", "")),
    ("inactive", "enabled", 0, "", (OK, "inactive; starts at boot", "")),
    ("active", "disabled", 1, "", (WARN, "running, but does not start at boot (disabled)",
                                   "sudo systemctl enable rig")),
    ("failed", "enabled", 0, "", (FAIL, "failed; starts at boot",
                                  "journalctl -u rig -b says why; then sudo systemctl "
                                  "restart rig")),
    ("inactive", "disabled", 1, "", (FAIL, "inactive; does not start at boot (disabled)",
                                     "sudo systemctl enable --now rig")),
    ("inactive", "not-found", 4, "", (FAIL, "rig.service is not installed",
                                      "sudo make install")),
    ("inactive", "", 1, "Failed to get unit file state for rig.service: No such file or "
                        "directory", (FAIL, "rig.service is not installed",
                                      "sudo make install")),
])
def test_service_verdicts(tmp_path, active, enabled, code, stderr, verdict):
    d = sim_doctor(tmp_path, systemctl=fake_systemctl(tmp_path, active, enabled, code, stderr),
                   systemd_running=True)
    assert list(check_service(d)) == [Verdict("service", *verdict)]
    assert d.service_active == (active == "active")


def test_a_running_service_keeps_the_camera_and_pins(tmp_path):
    d = sim_doctor(tmp_path, systemctl=fake_systemctl(tmp_path, "active", "enabled"),
                   systemd_running=True, camera_spec="usb")
    list(check_service(d))
    assert list(check_camera(d)) == [Verdict("camera", SKIP, "the rig service is running and "
                                             "holds the camera", STOP_SERVICE)]
    assert list(check_gpio(d))[0].status == SKIP


def test_no_systemctl_or_no_systemd(tmp_path):
    assert list(check_service(sim_doctor(tmp_path, systemctl=None))) == [
        Verdict("service", SKIP, "no systemctl on this machine")]
    assert list(check_service(sim_doctor(tmp_path, systemctl="/bin/false",
                                         systemd_running=False))) == [
        Verdict("service", SKIP, "systemd is not running on this machine")]


def test_oled_verdicts(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    d = sim_doctor(tmp_path, dev=dev)
    assert list(check_oled(d)) == [Verdict(
        "OLED", FAIL, f"no I2C bus on this machine ({dev}/i2c-1 is missing)",
        "turn I2C on (sudo make install does), then reboot")]
    (dev / "i2c-0").write_text("")
    assert list(check_oled(d)) == [Verdict("OLED", FAIL, f"no {dev}/i2c-1 (there is i2c-0)",
                                           "set display.i2c_port to the OLED's bus")]
    (dev / "i2c-1").write_text("")          # a file, not a bus: the ioctl fails for real
    assert list(check_oled(d)) == [Verdict(
        "OLED", FAIL, f"{dev}/i2c-1 is not an I2C bus (Inappropriate ioctl for device)",
        "check display.i2c_port")]


class ShortedGPIO4(MockPin):
    """gpiozero's mock pin, with GPIO4 wired to ground: low whatever its pull-up."""

    def _set_pull(self, value):
        super()._set_pull(value)
        if self.info.name == "GPIO4":
            self.drive_low()


def test_gpio_pressed_at_rest(tmp_path):
    d = sim_doctor(tmp_path, pin_factory=MockFactory(pin_class=ShortedGPIO4))
    assert list(check_gpio(d)) == [Verdict(
        "GPIO", WARN, "reads pressed at rest: buttons.centre (GPIO4)",
        "a stuck button or a wire to ground: check hardware/wiring.md")]


def test_gpio_in_use(tmp_path):
    factory = MockFactory()
    d = sim_doctor(tmp_path, pin_factory=factory)
    assert list(check_gpio(d)) == [Verdict("GPIO", OK, "8 pins free, none pressed")]
    holder = DigitalInputDevice(5, pin_factory=factory)     # something else has button A's pin
    try:
        [verdict] = check_gpio(d)
    finally:
        holder.close()
    assert verdict.status == FAIL and verdict.text.startswith("in use: buttons.a (GPIO5): ")
    assert list(check_gpio(d))[0].status == OK               # released again


def test_gpio_counts_the_encoder_when_enabled(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text("[encoder.focus]\nenabled = true\n")
    d = sim_doctor(tmp_path, pin_factory=MockFactory())
    d.config = load_config(path)
    assert list(check_gpio(d)) == [Verdict("GPIO", OK, "11 pins free, none pressed")]


def test_no_gpio_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    [verdict] = check_gpio(sim_doctor(tmp_path))
    assert verdict.status == FAIL and verdict.text.startswith("no GPIO on this machine (")
    assert verdict.fix == "on the Pi: sudo apt install python3-lgpio"


def test_web_verdicts_give_the_address_with_the_token(tmp_path):
    base = load_config().values
    d = sim_doctor(tmp_path)
    d.config = Config({**base, "web": {**base["web"], "enabled": False}}, "test")
    assert list(check_web(d)) == [Verdict("web", SKIP, "off in the config (web.enabled = false)")]
    d.config = Config({**base, "web": {**base["web"], "enabled": True, "host": "127.0.0.1",
                                       "port": 0}}, "test")
    [verdict] = check_web(d)
    token = token_for(d.store.root)
    assert verdict == Verdict("web", OK, f"http://127.0.0.1:0/?token={token}")
    assert stat.S_IMODE(token_path(d.store.root).stat().st_mode) == 0o600
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        d.config = Config({**base, "web": {**base["web"], "enabled": True,
                                           "host": "127.0.0.1", "port": port}}, "test")
        [verdict] = check_web(d)
    assert verdict.status == FAIL
    assert verdict.text == (f"http://127.0.0.1:{port}/?token={token}: port {port} cannot be "
                            "used (Address already in use)")


def test_on_every_network_the_page_is_given_by_address_and_by_name(tmp_path, monkeypatch):
    """Older phones do not resolve rig.local: the IP address comes first."""
    monkeypatch.setattr(rig.address, "local_addresses", lambda: ["192.168.4.7", "10.0.0.2"])
    monkeypatch.setattr(rig.address.socket, "gethostname", lambda: "cam-b")
    base = load_config().values
    d = sim_doctor(tmp_path, service_active=True)      # the port is the service's: no probe
    d.config = Config({**base, "web": {**base["web"], "host": "0.0.0.0", "port": 8080}}, "t")
    token = token_for(d.store.root)
    assert list(check_web(d)) == [Verdict(
        "web", OK, f"http://192.168.4.7:8080/?token={token} (or http://10.0.0.2:8080/, "
                   "http://cam-b.local:8080/ with the same token)")]
    assert d.web_link == ("http://192.168.4.7:8080/", token)


def test_an_announcement_on_another_port_is_a_warning(tmp_path):
    avahi = tmp_path / "rig.service"
    avahi.write_text("<service-group><service><type>_http._tcp</type><port>8080</port>"
                     "</service></service-group>")
    base = load_config().values
    d = sim_doctor(tmp_path, service_active=True, avahi_service=avahi)
    d.config = Config({**base, "web": {**base["web"], "port": 8090}}, "t")
    verdicts = list(check_web(d))
    assert [v.status for v in verdicts] == [OK, WARN]
    assert verdicts[1] == Verdict("web", WARN, "the network announces the page on port 8080, "
                                  "the config serves it on 8090",
                                  "sudo make install (it writes the announcement again)")


def test_a_check_that_breaks_is_a_verdict_not_a_crash(tmp_path, monkeypatch):
    def check_boom(d):
        raise RuntimeError("wires crossed")
        yield  # pragma: no cover

    monkeypatch.setattr(rig.doctor, "CHECKS", [check_boom, check_web])
    verdicts = run(sim_doctor(tmp_path))
    assert verdicts[0] == Verdict("boom", FAIL, "the check itself failed: RuntimeError: "
                                                "wires crossed")
    assert verdicts[1].check == "web"


def test_format_verdict_wraps_under_the_status():
    text = format_verdict(Verdict("lens on AF", FAIL, "the lens does not move when driven "
                                  "(live view: picture changed 1.0x the noise)",
                                  "set the lens switch to AF"), 40)
    assert text.splitlines() == ["FAIL lens on AF: the lens does not move",
                                 "     when driven (live view: picture",
                                 "     changed 1.0x the noise)",
                                 "     fix: set the lens switch to AF"]
