"""The estimated focus distance: 1/d linear in the position, from the lens's closest distance."""

import math

import pytest

from rig.calibration import Calibration, DriveCal
from rig.distance import (MIN_FOCUS_M, distance_m, estimate, format_distance, min_focus,
                          min_focus_for)


def test_the_stops_are_the_closest_distance_and_infinity():
    assert distance_m(0, 407, 0.2) == pytest.approx(0.2)
    assert math.isinf(distance_m(407, 407, 0.2))
    assert math.isinf(distance_m(500, 407, 0.2))          # beyond: clamped at the far stop
    assert distance_m(-5, 407, 0.2) == pytest.approx(0.2)


@pytest.mark.parametrize("position", [0, 50, 203.5, 300, 406])
def test_one_over_distance_falls_linearly_to_zero(position):
    """1/d = (1/m)(1 - x/R): the law the simulator's optics use (contracts.md)."""
    assert 1 / distance_m(position, 407, 0.2) == pytest.approx((1 / 0.2) * (1 - position / 407))


def test_halfway_in_steps_is_twice_the_closest_distance():
    assert distance_m(203.5, 407, 0.25) == pytest.approx(0.5)


@pytest.mark.parametrize("metres, text", [
    (0.2, "~20cm"), (0.544, "~54cm"), (0.996, "~1.0m"), (1.0, "~1.0m"), (2.34, "~2.3m"),
    (9.96, "~10m"), (16.47, "~16m"), (99.4, "~99m"), (100.0, "~inf"), (math.inf, "~inf"),
])
def test_the_format_is_short_and_marked_as_an_estimate(metres, text):
    assert format_distance(metres) == text
    assert len(text) <= 6


def test_nothing_is_shown_when_the_closest_distance_is_unknown():
    assert estimate(100, 407, None) == ""
    assert estimate(None, 407, 0.2) == ""
    assert estimate(100, None, 0.2) == ""
    assert estimate(100, 407, 0.2) == format_distance(distance_m(100, 407, 0.2)) == "~27cm"


@pytest.mark.parametrize("reported, metres", [
    ("EF24mm f/2.8 IS USM", 0.20),                   # as a Canon body reports it
    ("Canon EF 24mm f/2.8 IS USM", 0.20),            # as the simulator's profile names it
    ("EF24mm f/1.4L II USM", 0.25),
    ("EF35mm f/2 IS USM", 0.24),
    ("AF-S NIKKOR 50mm f/1.8G", 0.45),
    ("EF24-70mm f/2.8L II USM", None),               # zooms are left out on purpose
    ("unknown lens", None),
])
def test_the_table_finds_a_lens_by_the_name_the_camera_gives(reported, metres):
    assert min_focus_for(reported) == metres


def test_every_number_in_the_table_is_a_plausible_distance():
    assert len(MIN_FOCUS_M) >= 10
    for name, metres in MIN_FOCUS_M.items():
        assert 0.1 <= metres <= 1.5, name
        assert min_focus_for(name) == metres


def _cal(lens, **extra):
    return Calibration(lens, 407, (DriveCal(1, 1.0, 23.5),), camera="C", extra=extra)


def test_a_profile_of_its_own_comes_before_the_table():
    assert min_focus(_cal("EF24mm f/2.8 IS USM")) == 0.20
    assert min_focus(_cal("EF24mm f/2.8 IS USM", min_focus_m=0.22)) == 0.22
    assert min_focus(_cal("Sigma 18-35mm F1.8 DC HSM", min_focus_m=0.28)) == 0.28
    assert min_focus(_cal("Sigma 18-35mm F1.8 DC HSM")) is None
    assert min_focus(None) is None
