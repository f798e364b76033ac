"""The lens worker as the one capture loop: frames for watchers, slower in play,
none while a pull runs.  The whole app on the simulator, in virtual time."""

import dataclasses

from rig.app import App, load_state
from rig.calibration import Calibration, DriveCal
from rig.clock import VirtualClock
from rig.config import load_config
from rig.liveview import LiveFeed
from rig.sequencer import GoTo, Mode, Point, SetMode
from rig.sim import DEFAULT_PROFILE, DriveSpec, SimBody, load_profile
from rig.store import Store
from rig.worker import KEEPALIVE_S, NullObserver


class Pulls(NullObserver):
    def __init__(self):
        self.runs = []

    def transition_ended(self, tr, run, position, sigma):
        self.runs.append((run.t0, run.ended))


def test_frames_for_watchers_slower_in_play_and_none_during_a_pull(tmp_path):
    profile = dataclasses.replace(
        load_profile(DEFAULT_PROFILE), steps=200, start=40, subject=30, latency_ms=2.0,
        latency_jitter_ms=0.0, preview_ms=2.0,
        drive={1: DriveSpec(1, 0, 50.0), 2: DriveSpec(3, 0, 100.0), 3: DriveSpec(10, 0, 200.0)})
    clock = VirtualClock()
    store = Store(tmp_path)
    store.save_calibration(Calibration(
        profile.lens, 200, (DriveCal(1, 1.0, 50.0), DriveCal(2, 3.0, 100.0),
                            DriveCal(3, 10.0, 200.0)), camera=profile.model, latency_ms=2.0))
    store.save_sequence((Point(10), Point(190)))
    live = LiveFeed(fps=10.0, play_fps=2.0)
    stamps = []
    live.listen(lambda: stamps.append(clock.now()))
    pulls = Pulls()
    app = App(clock, SimBody(profile, clock).session, store,
              state=load_state(store, load_config().ui), live=live, observer=pulls)
    app.start()

    def frames_in(seconds):
        start = clock.now()
        clock.sleep(seconds)
        return sum(start < t <= start + seconds for t in stamps)

    try:
        assert app.wait_idle(until=clock.now() + 60)
        assert app.state.mode == Mode.PLAY
        # Nobody watching: only the frames that keep live view on.
        assert frames_in(10) <= 10 / KEEPALIVE_S
        live.watch(+1)
        assert 19 <= frames_in(10) <= 21   # watched in play: 2 frames a second
        app.post(SetMode(Mode.EDIT, clock.now()))
        assert 97 <= frames_in(10) <= 101  # in edit: 10 a second
        pulls.runs.clear()
        app.post(GoTo(1, clock.now()))     # 180 steps: almost a second of pull
        assert app.wait_idle(until=clock.now() + 60)
        [(t0, ended)] = pulls.runs
        assert ended - t0 > 0.5           # 5 frames at 10 a second, had it captured
        assert not [t for t in stamps if t0 <= t <= ended]   # none while the lens moved
        assert frames_in(2) >= 19          # and the page has its frames again after
        assert live.latest()[0] == len(stamps)
    finally:
        app.stop()
