"""What goes wrong on a set, and how the rig comes back without a restart.

Each story: the rig runs on the simulator with a known lens and a saved
sequence; something happens to the camera; the screen and the log say what
and what to do; when the cause goes away the rig carries on by itself; the
sequence and the calibration on disk are untouched.
"""

import logging
import shutil

import pytest

from rig.app import App, load_state
from rig.calrange import TEST_REACH
from rig.clock import VirtualClock
from rig.config import load_config
from rig.display import View, screen_text
from rig.harness import ON_STEP
from rig.sequencer import Activity, Do, Mode, Point
from rig.sim import DEFAULT_PROFILE, PROFILES, SimBody, load_profile
from rig.store import Store
from rig.worker import KEEPALIVE_PLAY_S, RETRY_S


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, calibrations):
    """A state directory holding the default lens's and the Nikon's calibrations."""
    root = tmp_path_factory.mktemp("calibrated")
    for profile in (DEFAULT_PROFILE, PROFILES / "nikon-d750.toml"):
        calibrations.state_dir(profile, root)
    return root


POINTS = (Point(120), Point(300, 3.0))


class Rig:
    def __init__(self, state_dir, profile=DEFAULT_PROFILE, points=POINTS):
        self.clock = VirtualClock()
        self.body = SimBody(load_profile(profile), self.clock)
        self.store = Store(state_dir)
        self.store.save_sequence(points, "L")
        self.sequence = self.store.sequence_path.read_bytes()
        self.calibrations = {p.name: p.read_bytes() for p in (state_dir / "lenses").glob("*")}
        self.app = App(self.clock, self.body.session, self.store,
                       state=load_state(self.store, load_config().ui))

    def start(self):
        self.app.start()
        return self

    def idle(self):
        assert self.app.wait_idle(until=self.clock.now() + 3600)
        return self.app.state

    def recovered(self, within=120.0):
        """The state once the fault is gone (the worker retries every RETRY_S)."""
        until = self.clock.now() + within
        while self.app.state.activity == Activity.FAULT and self.clock.now() < until:
            self.clock.sleep(RETRY_S)
        return self.idle()

    def press(self, name):
        self.app.post(Do(name, self.clock.now()))
        self.clock.sleep(0.08)

    def on(self, target):
        """The lens is truly on ``target`` within what the rig says it knows: three
        times the one sigma it tracks, plus half a step (as rig.harness.on_mark).
        A lens without spread (the legacy Canon, the Nikon) must be on the step."""
        truth = self.body.truth.position(max(self.body.truth.settled_at(), self.clock.now()))
        return abs(truth - target) <= 3 * self.app.state.uncertainty + ON_STEP

    def screen(self):
        """The words on the OLED now, as one string."""
        return " ".join(screen_text(View(self.app.state, self.clock.now())))

    def nothing_lost(self, state_dir):
        assert self.store.sequence_path.read_bytes() == self.sequence
        assert {p.name: p.read_bytes() for p in (state_dir / "lenses").glob("*")} == \
            self.calibrations

    def stop(self):
        self.app.stop()


@pytest.fixture
def state_dir(calibrated, tmp_path):
    shutil.copytree(calibrated, tmp_path / "state")
    return tmp_path / "state"


def test_lens_on_mf(state_dir, caplog):
    rig = Rig(state_dir)
    rig.body.af = False
    rig.start()
    rig.clock.sleep(30)
    s = rig.app.state
    assert s.activity == Activity.FAULT and "set the lens switch to AF" in s.message
    assert "set the lens switch to AF" in caplog.text
    assert rig.screen().startswith("LENS ON MF? set the lens switch to AF")
    rig.body.af = True                      # the operator flips the switch
    s = rig.recovered()
    assert s.activity == Activity.IDLE and s.position == 120 and rig.on(120)
    rig.nothing_lost(state_dir)
    rig.stop()


@pytest.mark.parametrize("profile", [DEFAULT_PROFILE, PROFILES / "canon-ef24.toml"],
                         ids=["default", "legacy"])
def test_lens_switched_to_af_as_homing_ends_is_homed_again(tmp_path, calibrations, profile):
    """The lens is on MF at power-on and the operator flips it to AF just as
    the homing's last command has gone out: the homing moved nothing, yet
    the test drive after it sees the lens move.  It drives a third of the
    range out and one command more back, which clamps a lens on the near
    stop to 0 and leaves this one a command short of where it started: the
    picture says so, and the rig homes again instead of counting from a
    stop it never reached (it believed 0 and pulled to 120 from there)."""
    state = calibrations.state_dir(profile, tmp_path / "state")
    _, count = calibrations.calibration(profile).model().into_stop()
    rig = Rig(state, profile)
    rig.body.af = False
    rig.start()
    while rig.body.truth.ignored < count:   # the homing's commands, all lost on MF
        rig.clock.sleep(0.02)
    rig.body.af = True
    s = rig.idle()
    assert s.activity == Activity.IDLE and s.position == 120
    assert rig.on(120)
    rig.stop()


def test_new_lens_on_mf_calibrates_once_switched(tmp_path, caplog):
    rig = Rig(tmp_path / "state")
    rig.body.af = False
    rig.start()
    # Before it may say MF, calibration drives TEST_REACH of the largest commands out and as
    # many back, 1 s apart (settle_large_s), until one changes the picture: a lens that
    # moves meets its sharp point on the way (a 200mm f/1.4's near stop is one wide blur;
    # 6 commands once called it MF).  With the near stop and the first sweep, the fault
    # comes at about 150 s of virtual time.
    rig.clock.sleep(2 * TEST_REACH * 1.0 + 60)
    s = rig.app.state
    assert s.activity == Activity.FAULT and "set the lens switch to AF" in s.message
    assert caplog.text.count("the lens does not move when driven") == 1   # not every retry
    assert "set the lens switch to AF" in rig.screen()
    assert not (tmp_path / "state" / "lenses").exists() or \
        not any((tmp_path / "state" / "lenses").iterdir())               # nothing half-made
    rig.body.af = True
    s = rig.recovered(within=3600)
    assert s.activity == Activity.IDLE and rig.on(120)
    assert len(list((tmp_path / "state" / "lenses").iterdir())) == 1
    rig.stop()


def test_canon_live_view_switched_off_is_turned_back_on(state_dir, caplog):
    caplog.set_level(logging.WARNING)
    rig = Rig(state_dir).start()
    rig.idle()
    rig.body.liveview = False               # someone pressed the camera's LV button
    rig.clock.sleep(KEEPALIVE_PLAY_S + 1)   # in play, the keepalive comes this seldom
    assert "live view was off" in caplog.text
    assert rig.app.state.highlight.text == "live view turned on"
    assert rig.screen().startswith("LIVE VIEW live view was off: rig turned it on")
    rig.press("set")                        # play: the pull still happens
    rig.idle()
    assert rig.on(300)
    rig.nothing_lost(state_dir)
    rig.stop()


def test_nikon_live_view_off_is_refused_then_fixed(state_dir, caplog):
    rig = Rig(state_dir, PROFILES / "nikon-d750.toml", (Point(200), Point(900, 3.0)))
    rig.start()
    rig.idle()
    assert rig.on(200)
    rig.body.liveview = False
    rig.press("set")
    rig.clock.sleep(0.5)
    assert rig.app.state.activity == Activity.FAULT
    assert "live view is off" in rig.app.state.message and "live view is off" in caplog.text
    assert "live view is off: turn live view on" in rig.screen()
    s = rig.recovered()                     # the rig turns live view on itself and re-homes
    assert s.activity == Activity.IDLE and rig.on(200)
    rig.press("set")
    rig.idle()
    assert rig.on(900)
    rig.nothing_lost(state_dir)
    rig.stop()


def test_unplug_and_replug_mid_transition(state_dir, caplog):
    rig = Rig(state_dir).start()
    rig.idle()
    rig.press("set")                        # 120 -> 300 in 3 s
    rig.clock.sleep(1.2)
    assert rig.app.state.transition is not None
    rig.body.unplug()                       # the cable is bumped
    rig.clock.sleep(1.0)
    s = rig.app.state
    assert s.activity in (Activity.FAULT, Activity.CONNECTING)
    assert "camera lost" in caplog.text
    assert rig.screen().startswith("CAMERA LOST check the USB cable")
    rig.clock.sleep(5.0)                    # still lost: the screen says so, and why it waits
    s = rig.app.state
    assert s.activity == Activity.FAULT and s.fault == "camera"
    assert "camera not found" in s.progress[0] or "no camera" in s.progress[0]
    assert "CAMERA LOST" in rig.screen() and s.progress[0].split(":")[0] in rig.screen()
    rig.body.plug()
    s = rig.idle()                          # reconnects, re-homes, back to point 1
    assert s.activity == Activity.IDLE and s.index == 0 and rig.on(120)
    assert rig.body.sessions >= 2           # a new gp.Camera, never the dead one
    rig.press("set")
    rig.idle()
    assert rig.on(300)
    rig.nothing_lost(state_dir)
    rig.stop()


def test_gvfs_holding_the_camera(state_dir, caplog):
    caplog.set_level(logging.WARNING)
    rig = Rig(state_dir)
    rig.body.claimed = True
    rig.start()
    rig.clock.sleep(10)
    s = rig.app.state
    assert s.activity == Activity.CONNECTING and "gio mount -s gphoto2" in s.progress[0]
    assert "gio mount -s gphoto2" in rig.screen()
    assert caplog.text.count("USB held by another program") == 1     # not every 2 s
    rig.body.claimed = False                # gio mount -s gphoto2
    s = rig.idle()
    assert s.activity == Activity.IDLE and rig.on(120)
    rig.nothing_lost(state_dir)
    rig.stop()


def test_no_camera_until_it_is_plugged_in(state_dir, caplog):
    caplog.set_level(logging.WARNING)
    rig = Rig(state_dir)
    rig.body.present = False
    rig.start()
    rig.clock.sleep(10)
    s = rig.app.state
    assert s.activity == Activity.CONNECTING and s.progress[0].startswith("no camera on USB")
    assert rig.screen().startswith("[") and "no camera on USB: plug it in" in rig.screen()
    assert "no camera on USB" in caplog.text
    rig.body.present = True
    s = rig.idle()
    assert s.mode == Mode.PLAY and s.activity == Activity.IDLE and rig.on(120)
    rig.nothing_lost(state_dir)
    rig.stop()
