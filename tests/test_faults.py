"""Faults a real camera throws, injected by the simulator, and what the rig does.

``[faults]`` in a profile (or ``SimBody.set_faults`` / ``fail_next``) makes
the simulated camera answer "busy" (-110), fail with I/O errors (-7), lose
the cable (-52), lose or slip drive commands and freeze its live view.  The
lens code under test is the production code.
"""

import dataclasses

import gphoto2 as gp
import pytest

from rig.app import App, load_state
from rig.clock import VirtualClock
from rig.config import load_config
from rig.inputs import InputError
from rig.lens import BUSY_TRIES, FAR, NEAR, Lens, LiveViewFrozen
from rig.sequencer import Activity, Edge, Mode, Point
from rig.sim import PROFILES, SimBody, load_profile
from rig.store import Store
from rig.verify import check_arrival, learn_scene
from rig.worker import use_calibration

BINDINGS = load_config().bindings   # the default buttons
# The legacy EF 24mm (whole steps, no backlash): these tests check what each fault
# does against its exact figures (positions, command sequences), not the lens.
LEGACY = PROFILES / "canon-ef24.toml"


@pytest.fixture
def cal(calibrations):
    return calibrations.calibration(LEGACY)


def rig(cal, faults=None):
    clock = VirtualClock()
    body = SimBody(load_profile(LEGACY), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    use_calibration(lens, cal)
    lens.home()
    if faults:
        body.set_faults(faults)
    return body, lens, clock


def truth(body, clock):
    return body.truth.step(max(body.truth.settled_at(), clock.now()))


def test_busy_answers_are_tried_again_in_place(cal):
    body, lens, clock = rig(cal, {"busy": 0.3})
    before = lens.retries
    for _ in range(40):
        lens.frame()
    assert body.truth.faults["busy"] >= 5                  # it did happen, often
    assert lens.retries - before == body.truth.faults["busy"]  # and every one was retried


def test_a_camera_busy_while_recording_gets_every_command_in_order(cal):
    """Busy answers (a body writing video to its card) delay commands, never reorder them."""
    body, lens, clock = rig(cal, {"busy": 0.4})
    lens.move_to(200)
    lens.wait_free()
    pattern = [(3, FAR), (1, NEAR), (2, FAR), (1, FAR), (2, NEAR), (3, NEAR), (1, NEAR)] * 4
    mark, before = body.truth.added, body.truth.faults["busy"]
    for size, direction in pattern:
        lens.send(size, direction)
        lens.wait_free()
    moved = [round(seg.x1 - seg.x0) for seg in body.truth.since(mark)]
    steps = {1: 1, 2: 4, 3: 26}                              # the profile's sizes, no jitter
    assert moved == [direction * steps[size] for size, direction in pattern]
    assert body.truth.faults["busy"] - before >= 10          # busy came often


def test_busy_for_too_long_is_raised(cal):
    body, lens, clock = rig(cal, {"busy": 1.0})
    with pytest.raises(gp.GPhoto2Error) as err:
        lens.frame()
    assert err.value.code == gp.GP_ERROR_CAMERA_BUSY
    assert body.truth.faults["busy"] == BUSY_TRIES


def test_a_drive_command_lost_to_an_io_error_leaves_doubt_not_a_dead_camera(cal):
    body, lens, clock = rig(cal)
    lens.move_to(200)
    lens.wait_free()
    assert lens.trusted
    body.fail_next("set_single_config", gp.GP_ERROR_IO)
    lens.send(3, FAR)                        # the camera says -7: moved or not?
    assert lens.position == pytest.approx(226, abs=0.5)   # counted as sent ...
    assert lens.uncertainty >= 20 and not lens.trusted    # ... but in doubt by its size
    lens.wait_free()
    assert truth(body, clock) == 200         # (it did not move)


def test_an_io_error_on_a_read_is_tried_once_more(cal):
    body, lens, clock = rig(cal)
    body.fail_next("capture_preview", gp.GP_ERROR_IO)
    assert lens.frame()[:2] == b"\xff\xd8"   # a JPEG after all
    assert body.truth.faults["injected"] == 1


def test_a_short_freeze_is_waited_out_and_a_long_one_is_said(cal):
    body, lens, clock = rig(cal)
    scene = learn_scene(lens, cal.steps)
    lens.move_to(150)
    lens.wait_free()
    lens.frame()
    body.set_faults({"freeze": 1.0, "freeze_s": 1.5})
    lens.frame()                             # this one starts the freeze
    body.set_faults({"freeze_s": 1.5})
    lens.move_to(180)
    check = check_arrival(lens, scene, 180, 150)
    assert check.verified                    # waited 1.5 s for a live picture
    assert abs(truth(body, clock) - 180) <= 3
    body.set_faults({"freeze": 1.0, "freeze_s": 60.0})
    lens.frame()
    body.set_faults({"freeze_s": 60.0})
    lens.move_to(220)
    sent = lens.commands
    check = check_arrival(lens, scene, 220, 180)
    assert not check.verified and check.reason == "the live view froze"
    assert lens.commands == sent and not lens.trusted      # nothing corrected on a stale picture
    with pytest.raises(LiveViewFrozen):
        lens.frame()


def test_slips_and_lost_commands_are_made_up_by_the_checks(cal):
    body, lens, clock = rig(cal)
    scene = learn_scene(lens, cal.steps)
    body.set_faults({"slip": 0.2, "slip_steps": 3, "drop": 0.05})
    errors = []
    for target in [60, 300, 150, 380, 30] * 3:
        start = round(lens.position)
        lens.move_to(target)
        check_arrival(lens, scene, target, start)
        lens.wait_free()
        errors.append(abs(truth(body, clock) - target))
    assert body.truth.faults["slip"] > 5 and body.truth.dropped > 2
    assert max(errors) <= 6, errors


def test_faults_are_the_same_for_the_same_seed(cal):
    counts = []
    for _ in range(2):
        body, lens, clock = rig(cal, {"busy": 0.2, "slip": 0.2, "io": 0.05})
        for target in (100, 300, 50):
            lens.move_to(target)
            lens.frame()
        counts.append((dict(body.truth.faults), truth(body, clock), lens.retries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("text, key", [
    ("busy = 2", "faults.busy"), ("slip_steps = 0", "faults.slip_steps"),
    ("freeze_s = -1", "faults.freeze_s"), ("wobble = 0.1", "faults.wobble")])
def test_bad_fault_keys_are_refused_by_name(tmp_path, text, key):
    profile = tmp_path / "p.toml"
    profile.write_text(LEGACY.read_text() + f"\n[faults]\n{text}\n")
    with pytest.raises(InputError) as err:
        load_profile(profile)
    assert key in str(err.value) and str(profile) in str(err.value)


def test_a_power_cut_mid_transition_homes_again_and_keeps_the_sequence(cal, tmp_path):
    """The rig's power goes mid-pull; the camera keeps its lens where it stopped."""
    store = Store(tmp_path / "state")
    store.save_calibration(cal)
    store.save_sequence((Point(60), Point(340, 3.0)), cal.lens)
    saved = store.sequence_path.read_bytes()
    clock = VirtualClock()
    body = SimBody(load_profile(LEGACY), clock)
    first = App(clock, body.session, store, state=load_state(store, load_config().ui))
    first.start()
    assert first.wait_idle(until=clock.now() + 600)
    first.post(Edge("thumb", True, clock.now()))            # the thumb: the next point
    first.post(Edge("thumb", False, clock.now() + 0.08))
    clock.sleep(1.5)                                 # mid-pull ...
    assert first.state.transition is not None
    first.worker.cancel()                            # ... the power goes: the worker stops
    first.stop()                                     # at its next camera call
    stranded = body.truth.step(clock.now() + 5)
    assert 60 < stranded < 340
    assert store.sequence_path.read_bytes() == saved

    # Power back: a new process, the same camera body, the lens where it stopped.
    homed_at = body.truth.added
    second = App(clock, body.session, store, state=load_state(store, load_config().ui))
    second.start()
    assert second.wait_idle(until=clock.now() + 600)
    s = second.state
    assert s.mode == Mode.PLAY and s.activity == Activity.IDLE and s.index == 0
    assert min(seg.x1 for seg in body.truth.since(homed_at)) == 0   # it went to the stop
    assert truth(body, clock) == 60 and s.position == 60
    assert [p.position for p in s.points] == [60, 340]
    second.stop()


def test_a_short_soak_with_every_fault_neither_crashes_nor_hangs(cal, tmp_path):
    """bench/soak.py runs 10,000 of these; here 40, all faults at once."""
    store = Store(tmp_path / "state")
    store.save_calibration(cal)
    points = (Point(40), Point(330, 2.5), Point(120, 1.5), Point(250, 2.0))
    store.save_sequence(points, cal.lens)
    clock = VirtualClock()
    body = SimBody(dataclasses.replace(load_profile(LEGACY), seed=5), clock)
    app = App(clock, body.session, store, state=load_state(store, load_config().ui))

    def press(name):
        """Function ``name`` by its default button (a short press)."""
        button = BINDINGS.gestures(name)[0].buttons[0]
        app.post(Edge(button, True, clock.now()))
        clock.sleep(0.08)
        app.post(Edge(button, False, clock.now()))

    def ready():
        for _ in range(600):
            assert app.wait_idle(until=clock.now() + 3600), "not idle within an hour"
            if app.state.activity == Activity.IDLE:
                return
            clock.sleep(1.0)
        raise AssertionError(f"stuck: {app.state.activity} {app.state.message}")

    app.start()
    ready()
    for name in ("info", "info", "info"):
        clock.sleep(0.5)
        press(name)
    ready()
    body.set_faults({"drop": 0.03, "busy": 0.05, "io": 0.01, "disconnects_per_hour": 30,
                     "reconnect_s": 4, "slip": 0.05, "freeze": 0.01, "freeze_s": 1.0})
    for _ in range(40):
        clock.sleep(0.5)
        press("set" if app.state.index + 1 < len(points) else "q")
        ready()
    app.stop()
    assert sum(body.truth.faults.values()) > 20
    assert store.load_sequence() == points
