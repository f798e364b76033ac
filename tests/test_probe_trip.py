"""The probe's round trip (issue 15): probe a simulated camera, simulate the profile it
wrote, compare.  The default lens and two zoo profiles here, each with rig's own
calibration, as rig probe runs it; bench/probe_zoo.py runs 20 and more."""

from __future__ import annotations

import pytest

from rig.probetrip import compare_profiles, round_trip, truth_calibrate
from rig.sim import DEFAULT_PROFILE, load_profile
from rig.zoo import profile as zoo_profile

# Two zoo lenses whose calibration recovers today: one whose camera queues a request
# that reaches a moving lens, one whose camera drops it.  bench/probe_zoo.py runs 20 and
# lists, for each lens that fails, the row that is off and whether the calibration put it
# off (a step size or backlash mis-measured, a speed it could not time, a refusal).
# Zoo 11 (a 35mm f/4, queue) was the queueing one until calibration gave the backlash an
# error: its legs place with a bias next to the sharp point (2.8 +- 0.5 steps after 30,
# truth 1.7) so it is refused with `precision`, rightly; zoo 5 (180mm f/1.4, a queue that
# hangs at a sixth) recovers instead.  Zoo 11 stays below, held to the same bound on what
# is outstanding, until a backlash estimate that sees the bias lets it recover.
ZOO_SEEDS = (5, 1507)
REFUSED_QUEUE_SEED = 11
QUEUE_SEED = 5   # a 180 mm f/1.4 whose camera queues requests (and hangs at a sixth)


def _failed(checks):
    return [c.line() for c in checks if not c.ok]


def _trip(original, **kw):
    trip = round_trip(original, **kw)
    print("\n".join(c.line() for c in trip["checks"] + trip["session"]))
    assert trip["overflows"] == 0
    assert trip["result"].findings["most_outstanding"].value <= 2
    # At the camera, the calibration's requests included: on a camera that queues its
    # speed trains are of two (rig/calibrate.py, QUEUE_TRAIN), so never a third.
    print(f"most requests outstanding at the camera: {trip['most_outstanding']}")
    assert trip["most_outstanding"] <= 2
    return trip


def test_round_trip_on_the_default_lens_with_rigs_calibration():
    """The default lens (canon-ef24-real since it replaced the legacy EF 24mm): the
    written profile has the original's range, steps, latency,
    frame time and busy behaviour, and the demo with fixed points on it makes the same
    moves, with each transition's time within 2 % of the original's."""
    trip = _trip(load_profile(DEFAULT_PROFILE))
    assert not _failed(trip["checks"])
    assert trip["session"] and not _failed(trip["session"])


@pytest.mark.parametrize("seed", ZOO_SEEDS)
def test_round_trip_on_a_zoo_lens_with_rigs_calibration(seed):
    """The fast round trip of issue 15 on a zoo lens: probed with rig's calibration, the
    written profile within the calibration's tolerances, the same behaviour for a
    request during motion, and the demo with fixed points the same within 2 %."""
    original = zoo_profile(seed)
    print(f"zoo seed {seed}: {original.lens}, busy {original.busy}")
    trip = _trip(original)
    assert not trip["result"].calibration_error
    assert not _failed(trip["checks"])
    assert trip["session"] and not _failed(trip["session"])


def test_the_refused_queueing_lens_never_has_a_third_request_outstanding():
    """Zoo 11, a queueing camera whose calibration refuses for the play (see ZOO_SEEDS):
    the probe and the calibration up to the refusal keep to two requests outstanding, and
    the refusal names the play.  When the play is measured better this fails: put the
    seed back in ZOO_SEEDS."""
    original = zoo_profile(REFUSED_QUEUE_SEED)
    assert original.busy == "queue"
    trip = _trip(original)
    assert "the play of the focus gear could not be measured" in trip["result"].calibration_error


def test_the_probes_own_part_on_a_lens_the_calibration_mismeasures():
    """Zoo seed 5, whose size-2 steps at the far stop rig's calibration puts 7 % off today
    (it gives every size the largest size's near-to-far ratio: bench/probe_zoo.py lists
    it).  With the lens part from the truth the probe's own figures still hold: the
    camera's, the queue, the optics."""
    original = zoo_profile(QUEUE_SEED)
    print(f"zoo seed {QUEUE_SEED}: {original.lens}")
    trip = _trip(original, calibrate=truth_calibrate(original), demo=False)
    assert not _failed(trip["checks"])
    probed = trip["probed"]
    assert probed.busy == "queue" and probed.queue_depth == 2
    assert probed.optics.breathing == pytest.approx(original.optics.breathing, abs=0.02)
    assert probed.layers[-1].distance_m == pytest.approx(original.layers[-1].distance_m,
                                                         rel=0.05)


def test_compare_profiles_catches_a_profile_that_is_off():
    original = zoo_profile(QUEUE_SEED)
    import dataclasses
    off = dataclasses.replace(original, steps=int(original.steps * 1.02),
                              latency_ms=original.latency_ms * 1.3, busy="drop",
                              queue_depth=None)
    names = {c.name for c in compare_profiles(original, off) if not c.ok}
    assert names == {"range (steps)", "latency (ms)", "request during motion"}


def _report(*moves, errors=()):
    """A session's report as compare_sessions reads it: (target, true, seconds, counts)."""
    from types import SimpleNamespace
    return SimpleNamespace(errors=list(errors), transitions=[
        {"kind": "play", "from": i, "to": i + 1, "target_step": target, "true_step": true,
         "actual_s": seconds, "counts": counts} for i, (target, true, seconds, counts)
        in enumerate(moves, start=1)])


def test_compare_sessions_times_only_the_same_moves():
    from rig.probetrip import compare_sessions
    a = _report((100, 100, 3.0, {"3": 4}), (250, 251, 2.0, {"3": 5, "1": 2}))
    same = _report((100, 104, 3.05, {"3": 4}), (250, 246, 1.98, {"3": 5, "1": 3}))
    assert all(c.ok for c in compare_sessions(a, same))
    slow = _report((100, 100, 3.07, {"3": 4}), (250, 251, 2.0, {"3": 5, "1": 2}))
    assert [c.name for c in compare_sessions(a, slow) if not c.ok] == ["play 1->2 time (s)"]
    # another target: a different move, its time not compared (and counted as off)
    moved = _report((100, 100, 3.0, {"3": 4}), (260, 260, 2.0, {"3": 5, "1": 2}))
    off = {c.name: c for c in compare_sessions(a, moved) if not c.ok}
    assert set(off) == {"play 2->3 target", "play 2->3 time (s)"}
    assert off["play 2->3 time (s)"].limit.startswith("not compared")
    assert [c.name for c in compare_sessions(a, _report((100, 101, 3.0, {})))
            if not c.ok] == ["transitions"]
    assert "errors" in {c.name for c in compare_sessions(
        a, _report((100, 100, 3.0, {}), (250, 251, 2.0, {}), errors=["hung"])) if not c.ok}


def test_landing_error_is_the_median_distance_from_the_targets():
    from rig.probetrip import landing_error
    assert landing_error(_report((100, 104, 1, {}), (200, 199, 1, {}), (300, 302, 1, {}))) == 2
    assert landing_error(_report((100, 104, 1, {}), (200, 199, 1, {}))) == 2.5
    assert landing_error(_report()) is None


def test_the_fixed_demo_is_the_demo_with_its_points_set_by_the_wheel():
    """Same presses and durations as rig/data/demo.rig; the points by the focus wheel at
    fixed steps, no autofocus."""
    from rig.cli import DEMO_SCRIPT
    from rig.probetrip import fixed_script
    from rig.script import load_script, parse_script
    fixed = parse_script(fixed_script(400))
    demo = load_script(DEMO_SCRIPT)
    turns = [a.value for a in fixed if a.kind == "turn"]
    assert turns == [100, 220, -100] and sum(turns) == 220
    assert not any(a.kind == "subject" or getattr(a, "name", "") == "af" for a in fixed)
    keep = ("info", "set", "q", "up", "left")
    assert [(a.kind, a.name, a.value) for a in fixed if getattr(a, "name", "") in keep] == \
        [(a.kind, a.name, a.value) for a in demo if getattr(a, "name", "") in keep]


def test_a_key_the_probe_could_not_measure_is_off_even_where_its_stand_in_matches():
    """busy not measured: the written profile falls back to the default "drop", which a
    dropping camera's original also says; the row is still off, and says why."""
    original = zoo_profile(1)
    assert original.busy == "drop"
    checks = {c.name: c for c in compare_profiles(original, original,
                                                  {"busy": "the picture could not tell"})}
    row = checks["request during motion"]
    assert not row.ok and row.probed == "not measured"
    assert "could not tell" in row.line()
    assert all(c.ok for name, c in checks.items() if name != "request during motion")
