import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "rig" / "data"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="write the OLED screens to tests/golden/ instead of comparing "
                          "(then look at the pictures and commit them)")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true, an end-to-end test (``e2e``: a real browser, a real window) that
    skips is a failure: CI installs what they need (.ci/run), so a skip there
    means they did not run.  On a developer's machine they skip with the reason."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("CI", "").lower() == "true"
            and item.get_closest_marker("e2e") is not None
            and not hasattr(report, "wasxfail")):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"end-to-end test skipped in CI (CI=true), so it did not run: {reason}"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RIG_HARDWARE") != "1":
        skip = pytest.mark.skip(reason="needs real hardware: set RIG_HARDWARE=1")
        for item in items:
            if "hardware" in item.keywords:
                item.add_marker(skip)
    if os.environ.get("RIG_SLOW") != "1":
        skip = pytest.mark.skip(reason="long run: set RIG_SLOW=1")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


SECOND_PROFILE = """\
vendor = "canon"
lens = "Test lens 50mm"
model = "Canon EOS R (simulated)"
steps = 600
start = 512
latency_ms = 25
latency_jitter_ms = 0
busy = "queue"
seed = 7
[drive.1]
steps = 1.0
jitter = 0.0
speed = 30.0
[drive.2]
steps = 3.0
jitter = 0.0
speed = 55.0
[drive.3]
steps = 20.0
jitter = 0.0
speed = 120.0
[scene]
subject = 180
blur_per_step = 0.05
noise = 2.0
"""


@pytest.fixture
def second_profile(tmp_path):
    """A profile with other numbers: 600 steps, sizes 1/3/20, busy = queue."""
    path = tmp_path / "second.toml"
    path.write_text(SECOND_PROFILE)
    return path


# ------------------------------------------------ lenses calibrated once per session
#
# Calibrating a realistic lens costs about half a minute of CPU.  A test that
# only needs a calibrated lens (not a test of calibration itself) takes one
# from ``calibrations``: each profile is calibrated once per run, by rig's own
# calibration on the simulator, and every test gets its own copy.

class Calibrated:
    """Simulator profiles calibrated by ``rig.calibrate.calibrate``, once each, kept saved.

    ``state_dir(profile, where)`` copies the saved calibration into a state
    directory ``where`` (a test's own, changed as it likes);
    ``calibration(profile)`` reads it back as a new :class:`Calibration`.
    ``profile`` is a profile's path or a loaded :class:`rig.simprofile.Profile`.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._saved: dict[str, Path] = {}      # the profile, as its fields say it -> state dir

    def _profile(self, profile):
        from rig.simprofile import Profile, load_profile
        return profile if isinstance(profile, Profile) else load_profile(profile)

    def _state(self, profile) -> Path:
        import dataclasses

        from rig.calibrate import calibrate
        from rig.clock import VirtualClock
        from rig.lens import Lens
        from rig.sim import SimBody
        from rig.store import Store
        profile = self._profile(profile)
        key = repr(dataclasses.replace(profile, source=""))
        if key not in self._saved:
            clock = VirtualClock()
            lens = Lens(SimBody(profile, clock).session(), clock)
            lens.connect()
            where = self._root / f"lens-{len(self._saved)}"
            Store(where).save_calibration(calibrate(lens), stamp=True)   # as rig saves it
            self._saved[key] = where
        return self._saved[key]

    def state_dir(self, profile, where: Path) -> Path:
        """``where`` (made if missing) holding this lens's saved calibration; returns it."""
        import shutil
        shutil.copytree(self._state(profile), where, dirs_exist_ok=True)
        return where

    def calibration(self, profile):
        """This lens's calibration, read from its saved file (a new object each time)."""
        from rig.calibration import load_calibration
        saved, = (self._state(profile) / "lenses").glob("*.json")
        return load_calibration(saved)


@pytest.fixture(scope="session")
def calibrations(tmp_path_factory):
    return Calibrated(tmp_path_factory.mktemp("calibrated"))


# ------------------------------------------------ how many calibrations a run makes
#
# This counts every calibration rig runs in
# this process (``rig.calibrate.calibrate``, by whatever name a module holds
# it) and prints them at the end of the run, by test: a figure the machine's
# load does not change.  Calibrations in a ``rig`` subprocess are not counted.

CALIBRATIONS: list[tuple[str, str, float]] = []     # (test, lens, CPU seconds)
_current_test = ["(collection)"]


def _counted(calibrate):
    import functools
    import time

    @functools.wraps(calibrate)
    def counted(lens, *args, **kwargs):
        start = time.process_time()
        try:
            return calibrate(lens, *args, **kwargs)
        finally:
            CALIBRATIONS.append((_current_test[0], getattr(lens, "lens_name", "") or "?",
                                 time.process_time() - start))
    counted.__wrapped_calibrate__ = calibrate
    return counted


def pytest_configure(config):
    import sys

    import rig.calibrate
    original = rig.calibrate.calibrate
    if hasattr(original, "__wrapped_calibrate__"):
        return
    counted = _counted(original)
    for name, module in list(sys.modules.items()):
        if (name == "rig" or name.startswith("rig.")) and getattr(module, "calibrate", None) is original:
            module.calibrate = counted


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current_test[0] = item.nodeid
    yield
    _current_test[0] = "(between tests)"


def pytest_sessionfinish(session):
    """An xdist worker (make test runs one per core) hands its count to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["rig_calibrations"] = [list(c) for c in CALIBRATIONS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the xdist controller: each worker's calibrations join the run's."""
    CALIBRATIONS.extend(tuple(c) for c in getattr(node, "workeroutput", {}).get(
        "rig_calibrations", []))


def pytest_terminal_summary(terminalreporter):
    if not CALIBRATIONS:
        return
    cpu = sum(c for _, _, c in CALIBRATIONS)
    terminalreporter.write_line(
        f"calibrations run in this run: {len(CALIBRATIONS)}, {cpu:.0f} s of CPU "
        f"(-v lists them by test)")
    if terminalreporter.verbosity > 0:
        by_test: dict[str, list] = {}
        for test, lens, seconds in CALIBRATIONS:
            by_test.setdefault(test, []).append((lens, seconds))
        for test, runs in by_test.items():
            lenses = ", ".join(f"{lens} {seconds:.1f} s" for lens, seconds in runs)
            terminalreporter.write_line(f"  {len(runs)}  {test}: {lenses}")
