"""The position model (rig.position): pure, no camera."""

import math
import random

import pytest

from rig.position import PICTURE_FLOOR, Tracked, after_commands, lost_variance


def homed(t: float = 0.0) -> Tracked:
    return Tracked().at_stop(0.0, t)


def test_unknown_until_a_stop_and_commands_do_not_make_it_known():
    track = Tracked()
    assert not track.known and track.sigma(0.0) == math.inf
    track = track.moved(30.0, 0.5)
    assert not track.known and track.sigma(0.0) == math.inf
    track = track.at_stop(0.0, 1.0)
    assert track.known and track.position == 0.0 and track.sigma(1.0) == 0.0


def test_each_command_adds_its_calibrated_variance():
    track = homed()
    for n in range(1, 101):
        track = track.moved(float(n), 0.3)
        assert track.sigma(0.0) == pytest.approx(0.3 * math.sqrt(n))
    assert track.sigma(0.0) == pytest.approx(after_commands(0.3, 100))


def test_mixed_sizes_add_variances_not_spreads():
    track = homed().moved(10.0, 3.0).moved(20.0, 4.0)
    assert track.sigma(0.0) == pytest.approx(5.0)


def test_a_command_that_may_have_been_lost_adds_its_size():
    track = homed().moved(36.0, 0.0, steps=36.0, lost=1.0)     # an I/O error on the call
    assert track.sigma(0.0) == pytest.approx(36.0)
    track = homed().moved(36.0, 0.0, steps=36.0, lost=0.03)    # a camera that drops 3 %
    assert track.sigma(0.0) == pytest.approx(36.0 * math.sqrt(0.03 * 0.97))
    assert lost_variance(10.0, 0.0) == 0.0


def test_a_stop_is_the_only_thing_that_zeroes_it():
    track = homed()
    for n in range(50):
        track = track.moved(float(n), 1.0)
    assert track.sigma(10.0) > 5
    looked = track.placed(42.0, 0.0, 10.0)       # the picture, however sure it says it is
    assert looked.position == 42.0 and looked.sigma(10.0) == pytest.approx(PICTURE_FLOOR)
    doubted = looked.doubted(10.0)
    assert doubted.sigma(10.0) == pytest.approx(10.0)
    assert doubted.doubted(2.0).sigma(10.0) == pytest.approx(10.0)   # only widens
    stopped = doubted.at_stop(0.0, 11.0)
    assert stopped.position == 0.0 and stopped.sigma(11.0) == 0.0


def test_time_adds_a_little():
    track = Tracked(drift_per_hour=1.0).at_stop(0.0, 0.0)
    assert track.sigma(3600.0 * 4) == pytest.approx(2.0)
    assert track.sigma(-5.0) == 0.0


def test_forgotten_is_unknown_again():
    track = homed().moved(5.0, 0.2).forgotten()
    assert track.position is None and track.sigma(0.0) == math.inf


def test_the_sigma_matches_what_random_commands_spread():
    """Simulated pulls with a known spread: the error stays within the model's sigma."""
    rng = random.Random(7)
    spread, commands, runs = 0.8, 64, 2000
    errors = []
    for _ in range(runs):
        track, truth = homed(), 0.0
        for _ in range(commands):
            truth += 10.0 + rng.gauss(0.0, spread)
            track = track.moved(track.position + 10.0, spread)
        errors.append(truth - track.position)
    rms = math.sqrt(sum(e * e for e in errors) / runs)
    assert rms == pytest.approx(track.sigma(0.0), rel=0.08)
    assert track.sigma(0.0) == pytest.approx(spread * 8)
