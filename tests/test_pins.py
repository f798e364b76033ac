"""constraints.txt: the versions a Pi installs, and the ones the tests run against."""

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins():
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"constraints.txt: {line!r} is not an exact pin"
            out[canonicalize_name(name)] = pinned
    return out


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_dependency_is_pinned_within_its_bounds():
    pinned = pins()
    p = project()
    declared = p["dependencies"] + [r for name in ("test", "desktop")
                                    for r in p["optional-dependencies"][name]]
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not pinned in constraints.txt (tools/pins.py)"
        assert req.specifier.contains(pinned[name]), \
            f"{req.name}=={pinned[name]} does not meet pyproject.toml's {req}"


def test_the_tests_run_against_the_pins():
    """make test installs with -c constraints.txt: the venv is what a Pi gets."""
    wrong = []
    for name, pinned in pins().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name} missing")
            continue
        if have != pinned:
            wrong.append(f"{name} {have} (pinned {pinned})")
    assert not wrong, "the venv differs from constraints.txt: " + ", ".join(wrong)


def test_pillow_is_new_enough_for_the_plots():
    """rig/plot.py uses ImageFont.load_default_imagefont, which came with Pillow 10.4."""
    from PIL import ImageFont
    assert hasattr(ImageFont, "load_default_imagefont")
    pillow = next(r for r in project()["dependencies"] if r.startswith("pillow"))
    assert Requirement(pillow).specifier == Requirement("pillow>=10.4").specifier
    assert "load_default_imagefont" in (ROOT / "rig" / "plot.py").read_text()


def test_the_installer_and_make_use_the_pins():
    installer = (ROOT / "install" / "install.py").read_text()
    assert '"-c", str(copy / CONSTRAINTS)' in installer
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
