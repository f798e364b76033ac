"""Write constraints.txt: the exact versions a Pi install and `make test` use.

Run it in a venv where rig and its extras are installed
(``.venv/bin/python tools/pins.py``) after a meant upgrade
(``.venv/bin/pip install -U -e '.[test,desktop]'``); then run ``make test``
and commit both.  It walks the dependencies rig declares in pyproject.toml
(and those of its ``test`` and ``desktop`` extras) through each installed
package's own requirements, for Python 3.11 on Linux (Raspberry Pi OS
Bookworm's), and pins each at the version installed.

The Pi's venv installs the runtime part (``install/install.py``,
``pip install -c constraints.txt``); ``make test`` installs everything with
the same file, so the tests run against the versions a Pi will have.
``tests/test_pins.py`` checks that the file covers every dependency, meets
every lower bound in pyproject.toml, and matches the venv.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "constraints.txt"
# The venv's own tools (what `python -m venv` puts there, Debian's on the Pi):
# not rig's to pin (colorzero asks for setuptools, for pkg_resources).
TOOLS = {"pip", "setuptools", "wheel"}
# The Pi: Raspberry Pi OS Bookworm, 64-bit.
PI = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.2",
      "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
      "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def closure(requirements: list[str], extra: str = "") -> dict[str, str]:
    """name -> installed version, for ``requirements`` and all they need on the Pi."""
    found: dict[str, str] = {}
    todo = [(Requirement(r), extra) for r in requirements]
    while todo:
        req, req_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**PI, "extra": req_extra}):
            continue
        name = canonicalize_name(req.name)
        if name in TOOLS:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            sys.exit(f"pins: {req.name} is not installed here: pip install -e '.[test,desktop]'")
        extras = sorted(req.extras)
        if name in found and not extras:
            continue
        found[name] = dist.version
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or "extra" not in str(sub_req.marker):
                todo.append((sub_req, ""))
            else:
                for e in extras:
                    todo.append((sub_req, e))
    return found


def main() -> int:
    p = project()
    runtime = closure(p["dependencies"])
    extras = p.get("optional-dependencies", {})
    develop = {}
    for name in ("test", "desktop"):
        develop |= closure(extras.get(name, []))
    develop = {k: v for k, v in develop.items() if k not in runtime}
    lines = [
        "# The versions a Pi install uses (install/install.py: pip install -c constraints.txt),",
        "# and `make test` with it.  Made by tools/pins.py from a venv that passed `make test`;",
        "# tests/test_pins.py checks it.  To upgrade: pip install -U in .venv, make test,",
        "# .venv/bin/python tools/pins.py, commit.",
        "",
        "# rig and what it needs at run time (Python 3.11, Linux, aarch64)",
    ] + [f"{name}=={version}" for name, version in sorted(runtime.items())] + [
        "",
        "# the tests and the desktop preview (make test; not on the Pi)",
    ] + [f"{name}=={version}" for name, version in sorted(develop.items())]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT.name}: {len(runtime)} run-time pins, {len(develop)} for tests and the desktop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
