"""rig.calstops: the stall of size-1 commands against a stop, and steps from counts.

Synthetic data only (the estimators are pure), plus one simulator check that
the count back from a leg does not depend on the backlash.
"""

import math

import numpy as np
import pytest

from rig.calstops import (leg_steps, mean_bound, repeated, size_steps, spread_bound,
                          stall_point)
from rig.clock import VirtualClock
from rig.sim import SimBody
from rig.simprofile import DriveSpec
from rig.zoo import profile


def _frames(counts, stall, side, *, slope=1.0, noise=0.3, seed=0, dims=400):
    rng = np.random.default_rng(seed)
    stop = rng.normal(0, 20, dims)
    change = rng.normal(0, 1, dims)
    change /= np.linalg.norm(change)
    bend = rng.normal(0, 1, dims)
    bend /= np.linalg.norm(bend)
    out = []
    for c in counts:
        d = max(0.0, stall - c) if side == "end" else max(0.0, c - stall)
        # a picture that turns as it leaves the stop (two directions)
        out.append(stop + slope * d * change * 20 + 0.3 * slope * d * bend * 20
                   + rng.normal(0, noise, dims))
    return np.array(out)


def test_stall_at_the_end_of_an_approach_is_found_to_a_fraction_of_a_step():
    counts = [float(c) for c in range(0, 80, 2)] + [80.0] * 3
    frames = _frames(counts, 57.3, "end", noise=2.0)
    plateau = [c >= 80 for c in counts]
    fit = stall_point(counts, frames, plateau, side="end")
    assert abs(fit.count - 57.3) < 0.5
    assert fit.sigma < 1.0
    assert fit.contrast > 2


def test_where_the_lens_leaves_the_stop_is_the_backlash():
    counts = [0.0] * 4 + [float(c) for c in range(1, 25)]
    frames = _frames(counts, 3.4, "start", noise=2.0, seed=3)
    fit = stall_point(counts, frames, [c == 0 for c in counts], side="start")
    assert abs(fit.count - 3.4) < 0.5


def test_a_picture_that_does_not_change_gives_no_contrast():
    counts = [float(c) for c in range(0, 60, 2)] + [60.0] * 3
    frames = _frames(counts, 40.0, "end", slope=0.0, noise=2.0, seed=5)
    fit = stall_point(counts, frames, [c >= 60 for c in counts], side="end")
    assert fit.contrast < 1.5
    assert fit.sigma > 2.0


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="side"):
        stall_point([0, 1, 2, 3, 4], np.zeros((5, 3)), [1, 0, 0, 0, 0], side="middle")
    with pytest.raises(ValueError, match="same frames"):
        stall_point([0, 1, 2], np.zeros((5, 3)), [1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="at least 4"):
        stall_point([0, 1, 2], np.zeros((3, 3)), [1, 0, 0])


def test_leg_steps_follows_the_simulators_midpoint_rule():
    spec = DriveSpec(steps=26.0, jitter=0.0, speed=94.0, steps_far=29.5)
    span = 800.0
    for start, direction in ((0.0, 1), (span, -1)):
        x, total = start, 0.0
        for i in range(9):
            m = spec.mean(x, direction, span)
            total += m
            x += direction * (m - (2.0 if i == 0 else 0.0))
        assert leg_steps(26.0, 29.5, span, 9, start=start, direction=direction,
                         backlash=2.0) == pytest.approx(total, rel=1e-12)
    assert leg_steps(5.0, 5.0, span, 7, start=0.0, direction=1) == pytest.approx(35.0)


def test_size_steps_recovers_both_stops_from_one_leg_at_each():
    span, near, far = 950.0, 31.2, 27.4
    n1 = leg_steps(near, far, span, 12, start=0.0, direction=1, backlash=3.0)
    n2 = leg_steps(near, far, span, 8, start=span, direction=-1, backlash=3.0)
    est = size_steps((12, n1, 0.5), (8, n2, 0.5), span, backlash=3.0)
    assert est.near == pytest.approx(near, abs=1e-6)
    assert est.far == pytest.approx(far, abs=1e-6)
    assert 0 < est.near_sigma < 0.5 and 0 < est.far_sigma < 0.5
    looser = size_steps((12, n1, 2.0), (8, n2, 2.0), span, backlash=3.0)
    assert looser.near_sigma > 3 * est.near_sigma


def _legs(rng, k, spread, fit, repeats, mean=150.0):
    return [(k, mean + rng.normal(0, math.sqrt(k) * spread) + rng.normal(0, fit), fit)
            for _ in range(repeats)]


def test_spread_bound_is_above_the_commands_spread_about_four_times_in_five():
    rng = np.random.default_rng(11)
    spread = 1.3
    above = [spread_bound([_legs(rng, 4, spread, 0.4, 3), _legs(rng, 7, spread, 0.4, 2)],
                          prior=0.1)[0] > spread for _ in range(2000)]
    assert 0.74 < np.mean(above) < 0.86


def test_spread_bound_from_many_legs_comes_close_to_the_spread():
    rng = np.random.default_rng(12)
    bound, dof = spread_bound([_legs(rng, 5, 0.8, 0.3, 400)], prior=0.1)
    assert dof == 399
    assert 0.8 * 0.9 < bound < 0.8 * 1.1


def test_spread_bound_without_a_repeated_leg_is_the_prior():
    assert spread_bound([[(4, 100.0, 0.3)], [(5, 120.0, 0.3)], []], prior=2.5) == (2.5, 0)
    with pytest.raises(ValueError):
        spread_bound([[(4, 100.0, 0.3), (5, 120.0, 0.3)]], prior=2.5)


def test_repeated_legs_average_and_their_error_carries_the_spread_and_the_shared_part():
    k, c, sigma = repeated([(6, 100.0, 0.5), (6, 102.0, 0.5)], spread=1.0)
    assert (k, c) == (6, 101.0)
    assert sigma == pytest.approx(math.sqrt(max((0.25 + 6.0) / 2, 2.0 / 2)))
    assert repeated([(6, 100.0, 0.5)], spread=1.0, shared=2.0)[2] == pytest.approx(
        math.sqrt(0.25 + 6.0 + 4.0))


def test_repeats_that_disagree_beyond_their_errors_are_known_only_as_well_as_they_agree():
    _, _, sigma = repeated([(3, 100.0, 0.2), (3, 110.0, 0.2), (3, 90.0, 0.2)], spread=0.0)
    assert sigma == pytest.approx(math.sqrt(100.0 / 3))


def test_mean_bound_is_above_the_means_error_about_four_times_in_five():
    rng = np.random.default_rng(13)
    sigma, r = 0.7, 3
    above = [mean_bound(rng.normal(2.0, sigma, r))[1] > sigma / math.sqrt(r)
             for _ in range(4000)]
    assert 0.76 < np.mean(above) < 0.84
    assert mean_bound([1.0, 1.0, 1.0]) == (1.0, 0.0)
    with pytest.raises(ValueError):
        mean_bound([1.0])


def test_size_steps_refuses_empty_legs():
    with pytest.raises(ValueError):
        size_steps((0, 10.0, 1.0), (3, 30.0, 1.0), 500.0)


@pytest.mark.parametrize("backlash", [0.0, 2.3, 4.9])
def test_the_count_back_to_the_stop_is_the_legs_motor_steps_whatever_the_backlash(backlash):
    """n size-2 commands out of the near stop, size-1 back: the lens is on the stop
    again after exactly the motor steps sent out, the play taken up twice."""
    prof = profile(7)
    clock = VirtualClock()
    body = SimBody(prof, clock)
    body.profile = type(prof)(**{**prof.__dict__, "backlash": backlash})
    spec2 = DriveSpec(steps=4.4, jitter=0.0, speed=50.0)
    unit = prof.drive[1]
    for _ in range(300):                     # into the near stop
        body.move_relative(spec2, -1)
        clock.sleep(1.0)
    assert body.truth.position(clock.now()) == 0.0
    for _ in range(10):
        body.move_relative(spec2, 1)
        clock.sleep(1.0)
    sent = 10 * 4.4
    assert body.truth.position(clock.now()) == pytest.approx(sent - backlash)
    back = 0
    while body.truth.position(clock.now()) > 0:
        body.move_relative(unit, -1)
        clock.sleep(1.0)
        back += 1
    assert back == math.ceil(sent - 1e-9)
