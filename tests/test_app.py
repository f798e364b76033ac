"""The shell on a virtual clock: waiting for the camera, stopping cleanly."""

from rig.app import App, load_state
from rig.clock import VirtualClock
from rig.config import load_config
from rig.display import View, render
from rig.sequencer import Activity, Point
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile
from rig.store import Store


def make(tmp_path, **app_kw):
    clock = VirtualClock()
    sim = SimBody(load_profile(DEFAULT_PROFILE), clock)
    store = Store(tmp_path)
    app = App(clock, sim.session, store, state=load_state(store, load_config().ui), **app_kw)
    return app, sim, clock, store


def test_waits_for_the_camera_and_says_so(tmp_path, calibrations):
    calibrations.state_dir(DEFAULT_PROFILE, tmp_path)      # a lens it knows
    app, sim, clock, store = make(tmp_path)
    sim.present = False
    app.start()
    clock.sleep(10.0)
    state = app.state
    assert state.activity == Activity.CONNECTING
    assert state.progress[0].startswith("no camera on USB")
    assert render(View(state, clock.now())).getbbox() is not None
    sim.present = True          # plugged in: it homes the lens it knows
    assert app.wait_idle(until=clock.now() + 3600)
    assert app.state.activity == Activity.IDLE and app.state.position == 0
    app.stop()


def test_a_stop_during_calibration_is_prompt_and_saves_nothing_half_done(tmp_path):
    app, sim, clock, store = make(tmp_path)
    store.save_sequence((Point(100), Point(200, 2.0)))
    saved = store.sequence_path.read_bytes()
    app.start()
    clock.sleep(60.0)
    assert app.state.activity == Activity.CALIBRATING
    asked = clock.now()
    app.stop()
    assert clock.now() - asked < 1.5
    assert not (tmp_path / "lenses").exists()      # no calibration half written
    assert store.sequence_path.read_bytes() == saved


def test_a_point_shows_only_once_it_is_saved_and_the_lens_status_is_a_frozen_snapshot(
        tmp_path, calibrations):
    """App.state is published after its effects ran; other threads read LensStatus."""
    import dataclasses

    import pytest

    from rig.sequencer import AddPoint, Mode, SetMode
    from rig.worker import LensStatus
    calibrations.state_dir(DEFAULT_PROFILE, tmp_path)
    app, sim, clock, store = make(tmp_path)
    seen = []
    save = store.save_sequence

    def saving(points, lens):
        seen.append((len(app.state.points), len(points)))   # what App.state shows meanwhile
        save(points, lens)
    store.save_sequence = saving
    app.start()
    assert app.wait_idle(until=clock.now() + 3600)
    status = app.lens_status
    assert isinstance(status, LensStatus) and status.lens == sim.profile.lens
    assert status.calibration is not None and status.position == 0 and status.trusted
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.position = 5
    app.post(SetMode(Mode.EDIT, clock.now()))
    app.post(AddPoint(clock.now()))
    assert app.wait_idle(until=clock.now() + 60)
    assert seen == [(0, 1)]                     # not shown before it was on disk
    assert len(app.state.points) == 1 and store.sequence_path.exists()
    assert app.lens_status is status or app.lens_status.lens == status.lens
    app.stop()
