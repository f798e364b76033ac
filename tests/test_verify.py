"""Live-view position checks (rig.verify) on the simulator, through the real lens code.

The lens is calibrated and the scene learnt once per module; each test
then makes its own trouble (jitter, a lost command, the mirror image about
the sharp subject, a changed scene) and reads the simulator's truth, which
the rig never sees.
"""

import dataclasses

import numpy as np
import pytest

from rig.clock import VirtualClock
from rig.inputs import InputError
from rig.lens import FAR, NEAR, Lens
from rig.planner import plan_move
from rig.sim import PROFILES, DriveSpec, SimBody, load_profile
from rig.store import Store
from rig.verify import SceneMap, check_arrival, holds, learn_scene
from rig.worker import use_calibration

JITTER = {2: 0.4, 3: 2.0}
BOUND = 6   # steps: bench/drift.py measures the picture's resolution on this lens
# The legacy EF 24mm (a plane sharp at 250, whole steps, no backlash), whose figures
# these checks were measured against (bench/drift.py).  The realistic default lens's
# arrival checks run end to end in tests/test_still_take.py; porting these cases
# to it (sharp at 271, steps that vary, backlash) is still to do.
LEGACY = PROFILES / "canon-ef24.toml"


@pytest.fixture(scope="module")
def learnt(calibrations):
    """(calibration, scene) of the default lens, made once with a jitter-free lens."""
    clock = VirtualClock()
    body = SimBody(load_profile(LEGACY), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    cal = calibrations.calibration(LEGACY)
    use_calibration(lens, cal)
    lens.home()
    return cal, learn_scene(lens, cal.steps)


class Rig:
    """A connected, calibrated, homed lens on a (possibly jittery) simulator."""

    def __init__(self, learnt, jitter=None):
        cal, self.scene = learnt
        profile = load_profile(LEGACY)
        if jitter:
            profile = dataclasses.replace(profile, drive={
                k: DriveSpec(v.steps, jitter.get(k, v.jitter), v.speed)
                for k, v in profile.drive.items()})
        self.clock = VirtualClock()
        self.body = SimBody(profile, self.clock)
        self.lens = Lens(self.body.session(), self.clock)
        self.lens.connect()
        use_calibration(self.lens, cal)
        self.lens.home()

    def truth(self):
        return self.body.truth.step(max(self.body.truth.settled_at(), self.clock.now()))

    def pull(self, target, duration=2.0):
        lens = self.lens
        start = round(lens.position)
        plan = plan_move(start, target, duration, lens.model)
        lens.wait_free()
        lens.execute(plan, self.clock.now() + lens.lead)
        return start

    def place(self, true, belief):
        """The lens really at ``true`` (exact size-1 steps), the rig sure it is at ``belief``."""
        lens = self.lens
        while self.truth() != true:
            lens.wait_free()
            lens.send(1, FAR if self.truth() < true else NEAR)
        lens.wait_free()
        lens.fix_position(belief, sigma=2.0)


def test_checks_keep_a_jittery_lens_on_its_marks(learnt):
    checked, unchecked = Rig(learnt, JITTER), Rig(learnt, JITTER)
    marks = [40, 330, 120, 390, 10, 250] * 5
    errors, drift, settled = [], [], []
    for target in marks:
        start = checked.pull(target)
        check = check_arrival(checked.lens, checked.scene, target, start)
        checked.lens.wait_free()
        errors.append(abs(checked.truth() - target))
        settled.append(check.verified)
        assert check.looks >= 1
        unchecked.pull(target)
        unchecked.lens.wait_free()
        drift.append(abs(unchecked.truth() - target))
    assert max(errors) <= BOUND, errors
    assert np.median(errors) <= 1
    assert max(drift) > 3 * BOUND            # what counting alone does, same lens, same moves
    # Nearly every check settles; one that does not (most often at the subject's
    # own sharp point, 250, where defocus looks alike either side) leaves the
    # lens in doubt rather than trusted: the lens trusts itself exactly when its
    # last check settled.
    assert sum(settled) >= 0.9 * len(settled), settled
    assert checked.lens.trusted == settled[-1]


def test_a_lost_command_is_found_and_made_up(learnt):
    rig = Rig(learnt)
    rig.pull(100)
    rig.body.set_drop(1.0)                   # the next command goes nowhere ...
    rig.lens.wait_free()
    rig.lens.send(3, FAR)                    # ... a size-3 command: 26 steps
    rig.body.set_drop(0.0)
    assert rig.lens.position == pytest.approx(126, abs=0.5) and rig.truth() == 100
    check = check_arrival(rig.lens, rig.scene, 126, 100)
    rig.lens.wait_free()
    assert check.verified and check.found == pytest.approx(-26, abs=1.5)
    assert abs(rig.truth() - 126) <= 2 and rig.lens.trusted


@pytest.mark.parametrize("true", [203, 238, 244, 256, 262, 297])
def test_either_side_of_the_sharp_subject_is_told_apart(learnt, true):
    """Defocus looks alike either side of the subject (sharp at 250): one look
    cannot tell 244 from 256 or 203 from 297; looks a known step apart can."""
    rig = Rig(learnt)
    rig.place(true, belief=250)
    check = check_arrival(rig.lens, rig.scene, 250, 150 if true < 250 else 350)
    rig.lens.wait_free()
    assert check.verified
    assert abs(rig.truth() - 250) <= 5      # the depth of field at the sharp point


def test_on_target_needs_no_motion(learnt):
    rig = Rig(learnt)
    rig.place(180, belief=180)
    sent = rig.lens.commands
    check = check_arrival(rig.lens, rig.scene, 180, 100)
    assert check.verified and check.looks == 1 and check.corrected == 0
    assert rig.lens.commands == sent


def test_a_changed_scene_is_never_corrected_for(learnt):
    rig = Rig(learnt)
    rig.place(150, belief=150)
    assert holds(rig.lens, rig.scene)
    rig.body.reframe(seed=99)                # the camera was moved
    assert not holds(rig.lens, rig.scene)
    sent = rig.lens.commands
    check = check_arrival(rig.lens, rig.scene, 150, 100)
    assert not check.verified and "does not match" in check.reason
    assert rig.lens.commands == sent and rig.truth() == 150   # nothing moved
    assert rig.lens.position == 150 and not rig.lens.trusted  # and the doubt is shown


def test_learning_stopped_early_keeps_what_it_learnt(learnt):
    rig = Rig(learnt)
    stops = iter([False] * 60 + [True])
    scene = learn_scene(rig.lens, 400, stop=lambda: next(stops))
    assert scene is not None and scene.reach == 60
    assert scene.covers(60) and not scene.covers(61)
    assert rig.lens.position == 60 and rig.truth() == 60


def test_scene_files_round_trip_and_bad_ones_are_refused(learnt, tmp_path):
    _, scene = learnt
    store = Store(tmp_path)
    path = store.save_scene(scene)
    again = store.load_scene(scene.camera, scene.lens)
    assert again.reach == scene.reach and again.noise == pytest.approx(scene.noise)
    assert np.abs(again.table - scene.table).max() < 0.05     # stored as float16
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError) as err:
        store.load_scene(scene.camera, scene.lens)
    assert str(path) in str(err.value) and "not a scene map rig wrote" in str(err.value)
    small = SceneMap(scene.table[:5], scene.noise, "c", "l")
    with pytest.raises(InputError, match="bad table"):
        SceneMap.from_bytes(small.to_bytes(), "small.npz")


def test_sony_reading_catches_a_lost_move_and_the_picture_finishes_it(calibrations):
    """Sony's focalposition (0-100) is coarse: it shows a lost size-3 move (60 steps
    on this lens) but not the last few steps, which the live view settles."""
    clock = VirtualClock()
    body = SimBody(load_profile(PROFILES / "sony-a7.toml"), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    cal = calibrations.calibration(PROFILES / "sony-a7.toml")
    use_calibration(lens, cal)
    lens.home()
    assert lens.read_position() == pytest.approx(0, abs=0.5)   # homed, and now readable
    lens.move_to(300)
    lens.wait_free()
    body.set_drop(1.0)
    lens.send(3, FAR)                      # lost: the rig thinks 360
    body.set_drop(0.0)
    truth = body.truth.step(clock.now())
    assert truth == 300 and lens.position == pytest.approx(360, abs=0.5)
    before, after = lens.checked(360)
    assert before == pytest.approx(-60, abs=cal.steps / 100 + 1)
    assert abs(after) <= cal.steps / 100                         # within one reading unit
    lens.home()
    scene = learn_scene(lens, cal.steps)
    lens.move_to(360)
    check = check_arrival(lens, scene, 360, 0)
    lens.wait_free()
    assert check.verified and abs(body.truth.step(clock.now()) - 360) <= 2


@pytest.mark.parametrize("true", [237, 240, 257, 260, 264])
@pytest.mark.parametrize("press", ["after the first look", "during the probe"])
def test_a_press_during_a_check_at_the_sharp_subject_waits_for_the_probe_judged(learnt, true,
                                                                               press):
    """At the subject's own sharp point (250) one look fits both sides (237 looks
    like 263); the check moves a few steps on a guess and judges the guess by the
    next look.  A press that comes meanwhile (the next pull, or Q) waits for that
    look and the correction it calls for: cut short after the guess, the lens
    would stay where a wrong guess put it, further off than the pull left it
    (on main: 257 -> 263, 264 -> 272, 237 -> 229)."""
    rig = Rig(learnt)
    rig.place(true, belief=250)
    calls = 1 if press == "after the first look" else 2   # stop() is asked before the
    asked = iter([False] * calls)                         # look, then before moving
    check = check_arrival(rig.lens, rig.scene, 250, 150 if true < 250 else 350,
                          stop=lambda: next(asked, True))
    rig.lens.wait_free()
    assert check.found is not None and abs(check.found) > 4     # it was in doubt
    assert abs(rig.truth() - 250) <= BOUND, (rig.truth(), check)
