"""The docs match the code.

* Every TOML example in the docs passes what reads it: ``rig config check``
  for a config, the simulator's loader for a profile (``vendor = ...``).
* The example of ``rig config check`` in docs/install.md is what it prints.
* Every ``sim:NAME`` a doc tells people to type finds its profile.
* The README's module table lists every module in ``rig/``, and only those.
"""

import re
import tomllib
from pathlib import Path

import pytest

from rig.cli import camera_spec, main
from rig.sim import load_profile

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"] + sorted(ROOT.glob("hardware/*.md"))


def blocks(path, language):
    """(line, text) of each fenced block in ``language`` ("" for a bare fence)."""
    found, inside, start, lines = [], None, 0, []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if inside is None and line.strip().startswith("```"):
            inside, start, lines = line.strip()[3:].strip(), i, []
        elif inside is not None and line.strip() == "```":
            if inside == language:
                found.append((start, "\n".join(lines) + "\n"))
            inside = None
        elif inside is not None:
            lines.append(line)
    return found


EXAMPLES = [(path, line, text) for path in DOCS for line, text in blocks(path, "toml")]


def test_the_docs_have_toml_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path, line, text", EXAMPLES,
                         ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _ in EXAMPLES])
def test_every_toml_example_is_accepted(path, line, text, tmp_path, capsys):
    example = tmp_path / "example.toml"
    example.write_text(text)
    where = f"{path.relative_to(ROOT)}:{line}"
    if "vendor" in tomllib.loads(text):              # a simulator profile
        load_profile(example)
        return
    code = main(["config", "check", str(example)])
    assert code == 0, f"{where}: rig config check refuses it: {capsys.readouterr().err}"


def flat(text):
    return " ".join(text.split())


def test_the_config_check_example_in_install_md_is_what_it_prints(tmp_path, capsys,
                                                                   monkeypatch):
    install = ROOT / "docs" / "install.md"
    configs = blocks(install, "toml")
    outputs = [text for _, text in blocks(install, "") if ": valid;" in text]
    assert len(configs) == 1 and len(outputs) == 1
    example = tmp_path / "rig.toml"
    example.write_text(configs[0][1])
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["config", "check", str(example)]) == 0
    printed = capsys.readouterr().out.replace(str(example), "/etc/rig/rig.toml")
    # Up to the state line: the state directory and the addresses are the Pi's.
    head = printed.split("\nstate ")[0]
    assert flat(outputs[0]).startswith(flat(head)), (head, outputs[0])
    shown = outputs[0].splitlines()
    assert [line.split()[0] for line in shown if not line.startswith(" ")][1:] == [
        line.split()[0] for line in printed.splitlines() if not line.startswith(" ")][1:]


MENTIONS = sorted({(path, name) for path in DOCS
                   for name in re.findall(r"sim:([A-Za-z0-9._-]+\.toml)", path.read_text())
                   if name not in ("PROFILE.toml", "FILE.toml")})


@pytest.mark.parametrize("path, name", MENTIONS, ids=[f"{p.name}:{n}" for p, n in MENTIONS])
def test_every_simulator_profile_named_in_the_docs_is_found(path, name):
    assert camera_spec(f"sim:{name}").endswith(name)


def _module_table():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| module | role |", 1)[1].split("\n\n", 1)[0]
    return {name for row in table.splitlines() if row.startswith("|")
            for name in re.findall(r"`([a-z_0-9]+\.py)`", row.split("|")[1])}


def test_the_readmes_module_table_lists_every_module():
    modules = {p.name for p in (ROOT / "rig").glob("*.py") if p.name != "__init__.py"}
    listed = _module_table()
    missing = sorted(modules - listed)
    assert not missing, ("README.md's module table (under 'How it is built') does not list "
                         + ", ".join(f"rig/{m}" for m in missing)
                         + ": add a row (or the name to a row) saying what it does")
    gone = sorted(listed - modules)
    assert not gone, ("README.md's module table lists " + ", ".join(gone)
                      + ", which rig/ no longer has: take it out")
