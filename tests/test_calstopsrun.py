"""The stops calibration (rig/calstopsrun.py): its pure parts on synthetic data, and
the run on simulator profiles: what it saves, what it refuses, and its gates."""

import dataclasses
import json
import math

import numpy as np
import pytest

from rig import zoo
from rig.calibrate import CAUSES, CalibrationError, CalibrationSettings, calibrate
from rig.calstops import count_spread, settle_time
from rig.calstopsrun import CHECK, CHECK_OFF
from rig.clock import VirtualClock
from rig.lens import Lens
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile

STOPS = CalibrationSettings(method="stops")


# ------------------------------------------------------------------ pure parts


def test_count_spread_recovers_the_commands_spread_beyond_the_stall_fits():
    rng = np.random.default_rng(3)
    k, sigma, fit = 6, 1.2, 0.4
    counts = [(k, 150.0 + rng.normal(0, math.sqrt(k) * sigma) + rng.normal(0, fit), fit)
              for _ in range(400)]
    assert count_spread(counts) == pytest.approx(sigma, rel=0.1)


def test_count_spread_of_commands_that_do_not_spread_is_about_nothing():
    rng = np.random.default_rng(4)
    counts = [(3, 90.0 + rng.normal(0, 0.5), 0.5) for _ in range(200)]
    assert count_spread(counts) < 0.2


def test_count_spread_says_nothing_from_two_legs():
    assert count_spread([(4, 100.0, 0.3), (4, 120.0, 0.3)]) == 0.0
    assert count_spread([(4, 100.0, 0.3), (5, 120.0, 0.3), (6, 90.0, 0.3)]) == 0.0


def test_settle_time_is_the_first_frame_after_the_last_that_moved():
    times = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    off = [9.0, 6.0, 3.0, 0.5, 0.4, 0.0]
    assert settle_time(times, off, 1.0) == 0.4
    assert settle_time(times, [0.2] * 6, 1.0) is None        # the motion did not show


# ------------------------------------------------------------------ the run


def connected(profile):
    clock = VirtualClock()
    body = SimBody(profile, clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    return lens, body, clock


def within_the_bar(cal, profile) -> list[str]:
    """Issue 13's bar against the simulator's truth: what is off."""
    off = []
    if abs(cal.steps - profile.steps) > 0.01 * profile.steps:
        off.append(f"range {cal.steps} (truth {profile.steps})")
    if abs(cal.backlash - profile.backlash) > 1.0:
        off.append(f"backlash {cal.backlash} (truth {profile.backlash})")
    for d in cal.drive:
        spec = profile.drive[d.size]
        far = spec.steps_far if spec.steps_far is not None else spec.steps
        for got, want in ((d.near, spec.steps), (d.far, far)):
            if abs(got - want) > 0.05 * want:
                off.append(f"size {d.size} {got:.2f} (truth {want:.2f})")
    return off


@pytest.mark.parametrize("seed", [1, 5])    # a body that drops, one that queues
def test_a_zoo_lens_is_recovered_checked_and_saved_with_todays_keys(seed):
    profile = zoo.profile(seed)
    lens, body, clock = connected(profile)
    cal = calibrate(lens, STOPS)
    assert within_the_bar(cal, profile) == []
    assert cal.extra["method"] == "stops" and cal.extra["busy"] == profile.busy
    assert abs(cal.extra["check_leg"]["counted"] - CHECK) <= CHECK_OFF
    assert cal.extra["check"] and all(abs(c["off"]) <= c["allowed"]
                                      for c in cal.extra["check"])
    saved = json.loads(json.dumps(cal.to_json()))
    assert {"steps", "drive", "backlash", "latency_ms", "latency_jitter_ms"} <= set(saved)
    for d in saved["drive"]:
        assert {"size", "steps", "speed", "move_s", "jitter"} <= set(d)
        if d["size"] > 1:
            assert {"steps_near", "steps_far"} <= set(d)
    # Each size's motion time is measured, never shorter than the lens's, except where
    # it is the settled wait (a bound, listed).
    for d in cal.drive:
        spec = profile.drive[d.size]
        assert d.move_s >= spec.steps / spec.speed
    assert body.truth.overflows == 0 and not body.hung
    assert lens.position == 0 == body.truth.position(clock.now())      # homed


def test_a_body_that_refuses_while_the_lens_moves_is_found_so_not_taken_for_dead():
    """Zoo seed 8 (a 180mm f/3.5 macro on a body that answers -110 while the lens moves):
    the busy test's second command once went through Lens.send, whose retries ran out
    behind the first command's long motion, and the calibration stopped with 'the camera
    stopped answering' (a false cause). Sent straight to the drive, the refusal shows
    the body's kind."""
    profile = zoo.profile(8)
    assert profile.busy == "error"
    lens, body, clock = connected(profile)
    cal = calibrate(lens, STOPS)
    assert cal.extra["busy"] == "error"
    assert within_the_bar(cal, profile) == []


def test_a_queueing_body_never_has_more_than_two_requests_outstanding():
    profile = dataclasses.replace(zoo.profile(5), queue_depth=2)
    lens, body, clock = connected(profile)
    calibrate(lens, STOPS)
    assert body.truth.overflows == 0 and not body.hung


def test_a_far_stop_whose_picture_misleads_is_refused_by_the_check_leg():
    """Zoo seed 4: a background sharp a few steps before the far stop biases every far
    stall (docs/calibration.md); the check leg's known count shows it, so nothing
    wrong is saved."""
    lens, body, clock = connected(zoo.profile(4))
    with pytest.raises(CalibrationError) as caught:
        calibrate(lens, STOPS)
    assert caught.value.cause == "check"
    assert f"{CHECK} size-1 commands" in str(caught.value)
    assert lens.model is None


def test_lens_on_mf_is_the_cause_only_when_the_lens_does_not_move():
    lens, body, clock = connected(load_profile(DEFAULT_PROFILE))
    body.af = False
    with pytest.raises(CalibrationError) as caught:
        calibrate(lens, STOPS)
    assert caught.value.cause == "mf" and "set the lens switch to AF" in str(caught.value)


def test_the_method_is_a_setting_and_a_flag(tmp_path, capsys):
    from rig.cli import main
    rc = main(["calibrate", "--camera", f"sim:{DEFAULT_PROFILE}", "--json", "--method", "stops",
               "--state-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    saved = [json.loads(p.read_text()) for p in (tmp_path / "lenses").glob("*.json")]
    assert len(saved) == 1 and saved[0]["method"] == "stops"
    assert set(CAUSES) >= {"check", "detail", "precision", "mf"}


@pytest.mark.parametrize("seed", [6, 16])
def test_what_the_stops_cannot_measure_well_enough_is_refused_not_saved_wrong(seed):
    """Zoo seed 6 (a 16mm whose size-3 commands spread by 1.3 steps each: one leg at each
    stop left its steps at the far stop 6 % off) and seed 16 (a picture that changes
    little next to the far stop: every play fit read about 0 for a play of 1.6, and 0
    was saved). Either the legs and the play are repeated until they are known well
    enough and the result is within issue 13's bar, or the run says it cannot measure
    them (``precision``) or that its check failed; never a wrong calibration."""
    profile = zoo.profile(seed)
    lens, body, clock = connected(profile)
    try:
        cal = calibrate(lens, STOPS)
    except CalibrationError as exc:
        assert exc.cause in ("precision", "check"), str(exc)
        assert lens.model is None
        return
    assert within_the_bar(cal, profile) == []
