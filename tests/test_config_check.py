"""``rig config check``: every mistake in rig.toml gets its own one-line message.

Each file in ``tests/corpus/config`` is a config someone could write, with
the exact message it must get on its first line (``# expect: LINE: KEY:
MESSAGE``, after the file's path).
"""

import importlib.util
from pathlib import Path

import pytest

import rig.config
from rig.cli import main

INSTALLER = Path(__file__).resolve().parent.parent / "install" / "install.py"

CORPUS = Path(__file__).parent / "corpus" / "config"
BAD = sorted(CORPUS.glob("*.toml"))


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


def flat(text: str) -> str:
    """Output as one line: the CLI wraps for narrow terminals."""
    return " ".join(text.split())


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_the_corpus_is_there_and_each_message_is_its_own():
    assert len(BAD) >= 30
    messages = [expectation(p).split(": ", 1)[-1] for p in BAD]   # key and message
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_bad_config_is_refused_with_its_message(path, capsys):
    assert main(["config", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"rig: error: {path}:{expectation(path)}\n"
    assert out == ""


def test_a_good_config_prints_a_short_summary(tmp_path, capsys):
    path = tmp_path / "rig.toml"
    path.write_text('[buttons]\ncentre = 20\n[display]\nrotate = 2\n'
                    f'[state]\ndir = "{tmp_path}"\n[encoder.focus]\nenabled = true\n')
    assert main(["config", "check", str(path)]) == 0
    out = flat(capsys.readouterr().out)
    assert out.startswith(f"{path}: valid; 4 settings changed from the defaults: ")
    assert "buttons.centre = 20" in out and "display.rotate = 2" in out
    assert f"state {tmp_path} buttons up 17, down 22, left 27, right 23, centre 20, a 5," in out
    assert "encoder GPIO19 + GPIO26, 1 step(s) a detent" in out
    assert "display ssd1306 at 0x3C on /dev/i2c-1 web http://" in out
    assert out.endswith(":8080/ (every network; add the token: rig doctor prints it); "
                        "live view 8 frames/s (2 in play) "
                        "position scene moving; Q in play homes first above ±4 steps")


def test_changes_are_written_as_toml_and_the_page_as_a_phone_opens_it(tmp_path, capsys,
                                                                       monkeypatch):
    import rig.address
    monkeypatch.setattr(rig.address, "local_addresses", lambda: ["192.168.4.7"])
    monkeypatch.setattr(rig.address.socket, "gethostname", lambda: "cam-b")
    path = tmp_path / "rig.toml"
    path.write_text('[web]\nenabled = false\n[display]\ni2c_address = 0x3D\n'
                    '[camera]\nport = "sim:canon-ef24.toml"\n[functions]\nq = ["b", "a+b"]\n'
                    'help = []\n')
    assert main(["config", "check", str(path)]) == 0
    out = flat(capsys.readouterr().out)
    for written in ('web.enabled = false', 'display.i2c_address = 0x3D',
                    'camera.port = "sim:canon-ef24.toml"', 'functions.q = ["b", "a+b"]',
                    'functions.help = []'):
        assert written in out, written
    assert "True" not in out and "False" not in out and "'" not in out.split("web off")[0]
    path.write_text('[web]\nport = 8081\n')
    assert main(["config", "check", str(path)]) == 0
    assert "web http://192.168.4.7:8081/, http://cam-b.local:8081/ (every network;" in \
        flat(capsys.readouterr().out)


def test_json_gives_the_whole_config_and_its_changes(tmp_path, capsys):
    import json
    path = tmp_path / "rig.toml"
    path.write_text('[web]\nport = 9000\n')
    assert main(["config", "check", "--json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(path) and data["valid"] is True
    assert data["changed"] == {"web.port": 9000}
    assert data["config"]["web"]["port"] == 9000 and data["config"]["display"]["rotate"] == 0


def test_without_a_file_it_checks_the_installed_one(tmp_path, monkeypatch, capsys):
    installed = tmp_path / "etc-rig.toml"
    monkeypatch.setattr(rig.config, "SYSTEM_CONFIG", installed)
    assert main(["config", "check"]) == 0
    assert flat(capsys.readouterr().out).startswith(
        f"no {installed}: the packaged defaults apply, and they are valid camera usb")
    installed.write_text("[display]\nrotate = 9\n")
    assert main(["config", "check"]) == 2
    assert capsys.readouterr().err == (f"rig: error: {installed}:2: display.rotate: must be "
                                       "a whole number >= 0 and <= 3, got 9\n")


def test_the_config_the_installer_writes_is_valid(tmp_path, capsys):
    """As written (all commented out) and with every setting uncommented."""
    spec = importlib.util.spec_from_file_location("rig_installer_for_check", INSTALLER)
    installer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer)
    text = installer.commented_config(rig.config.DEFAULTS.read_text())
    uncommented = "\n".join(line[1:] if line.startswith("#") and line[1:2] not in (" ", "")
                            else line for line in text.splitlines())
    for body in (text, uncommented):
        path = tmp_path / "rig.toml"
        path.write_text(body)
        assert main(["config", "check", str(path)]) == 0
        assert "valid; 0 settings changed" in flat(capsys.readouterr().out)


def test_a_missing_file_is_named(tmp_path, capsys):
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err == f"rig: error: {tmp_path / 'nope.toml'}: no such file\n"


def test_hand_run_commands_find_the_installed_state_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(rig.config, "SYSTEM_STATE", tmp_path / "var-lib-rig")
    assert rig.config.load_config().state_dir() == tmp_path / "xdg" / "rig"
    (tmp_path / "var-lib-rig").mkdir()          # installed: rig lenses sees the service's
    assert rig.config.load_config().state_dir() == tmp_path / "var-lib-rig"
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "svc"))
    assert rig.config.load_config().state_dir() == tmp_path / "svc"
