"""CI runs every test: an end-to-end test that skips there fails the run.

A small test session of its own (this directory's conftest.py, a test file
with an ``e2e`` test that skips and one that is not end to end) is run with
and without CI=true.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

TESTS = '''
import pytest

pytestmark = pytest.mark.skipif(True, reason="no chromium here")


@pytest.mark.e2e
def test_in_a_browser():
    pass


def test_not_end_to_end():
    pass
'''


def _session(tmp_path, ci):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    e2e: end to end\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_in_ci_a_skipped_end_to_end_test_fails(tmp_path):
    run = _session(tmp_path, ci=True)
    assert run.returncode == 1, run.stdout
    assert "1 skipped, 1 error" in run.stdout     # failed in its setup, where it skipped
    assert "end-to-end test skipped in CI (CI=true), so it did not run: " \
           "Skipped: no chromium here" in run.stdout


def test_on_a_developers_machine_it_skips_with_the_reason(tmp_path):
    run = _session(tmp_path, ci=False)
    assert run.returncode == 0, run.stdout
    assert "2 skipped" in run.stdout and "no chromium here" in run.stdout


def test_ci_run_installs_what_the_end_to_end_tests_need_then_runs_make_test():
    script = (HERE.parent / ".ci" / "run").read_text()
    assert "apt-get install" in script and "DEBIAN_FRONTEND=noninteractive" in script
    for package in ("chromium", "xvfb", "xdotool"):
        assert package in script
    assert script.rstrip().endswith("make test")      # the README's test command
    readme = (HERE.parent / "README.md").read_text()
    assert "\nmake test\n" in readme
