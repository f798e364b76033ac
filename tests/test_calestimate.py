"""Calibration's pure estimators on synthetic data (rig/calestimate.py)."""

import numpy as np
import pytest

from rig.calestimate import (Arrival, arrival_misses, arrival_spread, arrival_tolerance,
                             backlash, varying_steps)


def legs_for(play, counts, bias=0.0, seed=0):
    """Size-1 legs after reversals on a lens with ``play``: placed with noise and a bias
    that depends on the position (the same every time at one position)."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-bias, bias, 400)
    x, direction, legs = 200.0, -1, []
    placed = x + offsets[int(x)]
    for n in counts:
        x += direction * (n - play)
        now = x + offsets[int(round(x))] + rng.normal(0, 0.1)
        legs.append((n, now - placed))
        placed, direction = now, -direction
    return legs


@pytest.mark.parametrize("play", [0.0, 0.9, 2.0, 3.7, 5.0])
def test_backlash_is_found_within_a_step_through_placement_bias(play):
    legs = legs_for(play, (10, 13, 11, 14, 12, 9, 12, 15, 10, 11), bias=0.5)
    assert backlash(legs) == pytest.approx(play, abs=0.6)


def test_backlash_of_exact_legs_is_exact_and_never_negative():
    assert backlash([(10, 7.5), (12, 9.5), (11, 8.5)]) == pytest.approx(2.5)
    assert backlash([(10, 10.2), (12, 12.1)]) == 0.0          # noise, not play
    assert backlash([(10, 9.8), (12, 11.85)]) == 0.0          # under the snap
    with pytest.raises(ValueError):
        backlash([])


def test_one_odd_leg_does_not_pull_the_backlash():
    legs = [(10, 8.0)] * 6 + [(10, 2.0)]
    assert backlash(legs) == pytest.approx(2.0)


def pairs_for(near, far, span, noise, seed=1, sensitive=None):
    """Consecutive placements of a run from the near stop to the far one."""
    rng = np.random.default_rng(seed)
    g = (far - near) / span
    x, out = 0.0, []
    while True:
        e = (near + g * x) / (1 - g / 2)
        nxt = x + e
        if nxt > span:
            return out
        out.append((x + rng.normal(0, noise), nxt + rng.normal(0, noise), 1))
        x = nxt


@pytest.mark.parametrize("near,far", [(26.0, 26.0), (26.0, 29.4), (30.0, 26.1), (4.3, 4.8)])
def test_steps_at_both_stops_from_a_run(near, far):
    span = 900.0
    pairs = pairs_for(near, far, span, noise=0.3)
    got_near, got_far = varying_steps(pairs, span)
    assert got_near == pytest.approx(near, rel=0.02)
    assert got_far == pytest.approx(far, rel=0.02)


def test_steps_seen_over_a_short_stretch_are_the_mean_at_both_ends():
    pairs = [(100.0, 126.0, 1), (126.0, 152.5, 1), (152.5, 178.0, 1)]
    near, far = varying_steps(pairs, 900.0)
    assert near == far == pytest.approx(26.0, abs=0.2)


def test_weights_keep_loose_placements_out_of_the_slope():
    span = 900.0
    pairs = pairs_for(26.0, 28.0, span, noise=0.05)
    # Placements far from the sharp point are loose: spoil them and weigh them down.
    spoilt = [(a, b + (6.0 if a > 600 else 0.0), n) for a, b, n in pairs]
    weights = [1e-3 if a > 600 else 1.0 for a, _, _ in pairs]
    near, far = varying_steps(spoilt, span, weights)
    assert near == pytest.approx(26.0, rel=0.03) and far == pytest.approx(28.0, rel=0.03)
    bad_near, bad_far = varying_steps(spoilt, span)
    assert abs(bad_far - 28.0) > 1.0            # unweighted, the loose ones pull the slope


def test_arrivals_out_of_their_tolerance_are_the_misses():
    spread = arrival_spread({3: 8, 2: 1}, {3: 1.0, 2: 0.3}, placement_var=0.1)
    assert spread == pytest.approx(np.sqrt(8 + 0.09 + 0.2 + 0.05))
    assert arrival_tolerance(0.1) == 2.0           # never tighter than two steps
    good = Arrival("near stop", 200, 200.0, 201.5, 0.3)
    bad = Arrival("far stop", 210, 210.0, 204.0, 0.3)
    wide = Arrival("near stop", 200, 200.0, 207.0, spread)
    assert arrival_misses([good, bad, wide]) == [bad]
    assert "-6.0 steps from where the calibration predicts" in bad.describe()
    assert "far stop" in bad.describe()
    named = Arrival("near stop", 200, 200.0, 200.5, 0.3, "9 size-3 commands")
    assert named.describe().startswith("9 size-3 commands from the near stop to 200: ")
