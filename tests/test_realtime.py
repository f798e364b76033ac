"""The same app on real time and real threads (what `rig run` does)."""

import dataclasses

from rig.app import App, load_state
from rig.calibration import Calibration, DriveCal
from rig.clock import MonotonicClock
from rig.config import load_config
from rig.sequencer import Activity, Point
from rig.sim import DEFAULT_PROFILE, DriveSpec, SimBody, load_profile
from rig.store import Store


def test_boots_homes_and_reaches_point_1_in_real_time(tmp_path):
    profile = dataclasses.replace(
        # The legacy plane (subject and whole steps, no backlash), made small: real
        # time, not the lens, is what this is about.
        load_profile(DEFAULT_PROFILE.parent / "canon-ef24.toml"), steps=60, start=40,
        subject=30, latency_ms=2.0,
        latency_jitter_ms=0.0, preview_ms=2.0,
        drive={1: DriveSpec(1, 0, 500.0), 2: DriveSpec(3, 0, 1000.0),
               3: DriveSpec(10, 0, 2000.0)})
    clock = MonotonicClock()
    store = Store(tmp_path)
    # A known lens: the rig homes instead of calibrating.
    store.save_calibration(Calibration(
        profile.lens, 60, (DriveCal(1, 1.0, 400.0), DriveCal(2, 3.0, 800.0),
                           DriveCal(3, 10.0, 1600.0)), camera=profile.model, latency_ms=2.0))
    store.save_sequence((Point(25), Point(45, 0.2)))
    sim = SimBody(profile, clock)
    app = App(clock, sim.session, store, state=load_state(store, load_config().ui))
    app.start()
    try:
        assert app.wait_idle(until=clock.now() + 30.0)
        assert app.state.activity == Activity.IDLE
        assert app.state.position == 25 and app.state.index == 0
        assert round(sim.truth.position(clock.now() + 1.0)) == 25
    finally:
        app.stop()
