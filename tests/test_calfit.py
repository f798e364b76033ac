"""The live-view calibration's fits on synthetic data (rig/calfit.py)."""

import math

import numpy as np
import pytest

from rig.calfit import (Run, command_spread, ends_seen, far_stop_back, far_stop_fit,
                        first_guess, fit_run, linear, motion_time, placement_profile,
                        placement_var, precise_enough, readings_off, run_ends, run_spread,
                        same_readings, segments, sharpest, shifted, snap, stalled,
                        step_from_runs, track, well_placed, whole_steps)
from rig.vision import Encoder

RANGE = 300


def table(n=RANGE + 1, width=64, seed=0):
    """Fingerprints that change smoothly with position (sums of wide bumps), one per step."""
    rng = np.random.default_rng(seed)
    p = np.arange(n)[:, None]
    centres = rng.uniform(0, n, width)[None, :]
    return (100 * np.exp(-((p - centres) / 25.0) ** 2)).astype(np.float32)


def at(tab, x):
    """The fingerprint at a fractional position, interpolated."""
    i0 = int(np.floor(x))
    i1 = min(i0 + 1, len(tab) - 1)
    f = x - i0
    return (1 - f) * tab[i0] + f * tab[i1]


def run_of(tab, start, direction, step, count, play=0.0):
    xs = [float(np.clip(start + direction * (step * i - play), 0, RANGE))
          for i in range(1, count + 1)]
    room = RANGE - start if direction > 0 else start
    return Run(start, direction, room, [at(tab, x) for x in xs]), np.array(xs)


def test_segments_split_at_nan():
    parts = segments(np.array([np.nan, 1, 2, np.nan, np.nan, 3]))
    assert [list(p) for p in parts] == [[1.0, 2.0], [3.0]]
    assert segments(np.array([np.nan])) == []


def test_step_from_runs_is_the_distance_covered_over_the_commands():
    runs = [Run(0.0, 1, 300, [None] * 5), Run(300.0, -1, 300, [None] * 4)]
    tracks = [np.array([10, 20, 30, 40, np.nan]), np.array([np.nan, 281, 271, np.nan])]
    # (40 + 1) over 4 commands, (29 + 1) over 3: 71 / 7
    assert step_from_runs(runs, tracks, 9.0, play=1.0) == (71 / 7, 7)
    assert step_from_runs(runs[:1], [np.full(5, np.nan)], 9.0) == (9.0, 5)


@pytest.mark.parametrize("step,play", [(7.3, 0.0), (12.0, 2.0), (4.45, 3.5)])
def test_fit_run_recovers_the_step_from_a_whole_run(step, play):
    tab = table()
    run, _ = run_of(tab, 0.0, 1, step, 30, play)
    assert fit_run(run, Encoder(tab), RANGE, play) == pytest.approx(step, abs=0.01)


def test_fit_run_leaves_out_frames_clamped_on_the_far_stop():
    tab = table()
    run, xs = run_of(tab, 0.0, 1, 11.0, 40)     # the last dozen sit on the far stop
    assert xs[-1] == RANGE
    assert fit_run(run, Encoder(tab), RANGE, 0.0) == pytest.approx(11.0, abs=0.01)


def test_track_places_each_frame_and_leaves_out_the_sharp_point_and_the_stops():
    tab = table()
    run, xs = run_of(tab, RANGE, -1, 9.0, 30)
    placed = track(run, 9.0, Encoder(tab), subject=150, range_steps=RANGE, play=0.0)
    near_sharp = np.abs(xs - 150) < 6 + 0.3 * 9.0
    assert np.all(np.isnan(placed[near_sharp]))
    good = ~np.isnan(placed)
    assert good.sum() >= 20
    assert np.allclose(placed[good], xs[good], atol=0.05)
    # Nothing placed within 2.5 steps of the other stop (it may be clamped there).
    assert np.all(np.isnan(placed[(np.arange(1, 31)) * 9.0 > RANGE - 2.5 * 9.0]))


@pytest.mark.parametrize("sigma", [0.0, 0.6])
def test_command_spread_finds_the_commands_own_spread_not_the_placement(sigma):
    rng = np.random.default_rng(3)
    tau = 0.3
    runs, tracks = [], []
    for k in range(12):
        direction = 1 if k % 2 == 0 else -1
        start = 0.0 if direction > 0 else 300.0
        x = start + direction * np.cumsum(10.0 + rng.normal(0, sigma, 25) if sigma
                                          else np.full(25, 10.0))
        runs.append(Run(start, direction, 300.0, [None] * 25))
        tracks.append(x + rng.normal(0, tau, 25))
    found, count = command_spread(runs, tracks, 10.0, tau ** 2)
    assert count == 12 * 24
    if sigma == 0:
        assert found < 0.15
    else:
        assert found == pytest.approx(sigma, rel=0.2)


@pytest.mark.parametrize("sigma", [0.0, 0.43])
def test_command_spread_keeps_a_blurs_loose_placement_out_of_the_spread(sigma):
    """Frames in a blur place loosely (tau 1.5 steps over most of the range), next to
    the sharp point tightly (0.15): given where each frame places how well, the
    spread is the commands' own; with one tau for all (the tight one, as measured at
    known positions next to the sharp point) the blur passed for spread (seed 8 of the
    lens zoo: size 2's 0.43 measured 1.18)."""
    rng = np.random.default_rng(5)
    tau2 = np.where(np.arange(RANGE + 1) < 200, 1.5 ** 2, 0.15 ** 2)
    runs, tracks = [], []
    for k in range(6):
        direction = 1 if k % 2 == 0 else -1
        start = 0.0 if direction > 0 else float(RANGE)
        steps = 6.5 + rng.normal(0, sigma, 44) if sigma else np.full(44, 6.5)
        x = start + direction * np.cumsum(steps)
        x = x[(x > 3) & (x < RANGE - 3)]
        where = np.clip(np.round(x).astype(int), 0, RANGE)
        runs.append(Run(start, direction, float(RANGE), [None] * len(x)))
        tracks.append(x + rng.normal(0, 1, len(x)) * np.sqrt(tau2[where]))
    found, _ = command_spread(runs, tracks, 6.5, 0.15 ** 2, placement=tau2)
    blind, _ = command_spread(runs, tracks, 6.5, 0.15 ** 2)
    assert blind > sigma + 0.5                # the old way: the blur taken for spread
    if sigma == 0:
        assert found < 0.2
    else:
        assert found == pytest.approx(sigma, rel=0.35)


def test_placement_profile_is_loose_where_the_table_barely_changes():
    tab = table()
    tab[:100] = tab[100]          # a blur: the first 100 entries alike
    tab[:100] += np.linspace(0, 0.5, 100)[:, None].astype(np.float32)
    profile = placement_profile(Encoder(tab), noise=1.0, placement_var=0.05)
    assert profile.shape == (RANGE + 1,)
    assert profile.min() >= 0.05
    assert np.median(profile[10:90]) > 20 * np.median(profile[150:250])


def test_well_placed_frames_and_their_spread_leave_the_blur_out():
    """A blur (the first 150 entries barely change) whose frames place 2 steps off at
    random, though their noise over the table's change says a few tenths: the spread of
    the well-placed frames is the commands' own (0.4), all frames' is several times it."""
    rng = np.random.default_rng(11)
    tab = table()
    tab[:150] = tab[150] + np.linspace(-3, 0, 150)[:, None].astype(np.float32)
    enc = Encoder(tab)
    runs, tracks = [], []
    for k in range(6):
        direction = 1 if k % 2 == 0 else -1
        start = 0.0 if direction > 0 else float(RANGE)
        x = start + direction * np.cumsum(6.0 + rng.normal(0, 0.4, 45))
        x = x[(x > 3) & (x < RANGE - 3)]
        off = np.where(x < 150, rng.normal(0, 2.0, len(x)), rng.normal(0, 0.1, len(x)))
        runs.append(Run(start, direction, float(RANGE), [None] * len(x)))
        tracks.append(x + off)
    well = well_placed(enc, tracks)
    assert all(np.all(np.isnan(w[t < 140])) and not np.any(np.isnan(w[t > 160]))
               for w, t in zip(well, tracks))
    found, count = run_spread(runs, tracks, 6.0, encoder=enc, noise=1.0, placement_var=0.01)
    blind, _ = command_spread(runs, tracks, 6.0, 0.01)
    assert count >= 12 and found == pytest.approx(0.4, rel=0.3)
    assert blind > 2 * found


def test_ends_seen_by_a_start_or_by_frames_near_a_stop():
    runs = [Run(0.0, 1, 300, [None] * 3)]
    assert ends_seen(runs, [np.array([10.0, 20.0, 30.0])], 300) == (True, False)
    assert ends_seen(runs, [np.array([10.0, 240.0, np.nan])], 300) == (True, True)
    away = [Run(100.0, 1, 200, [None] * 2)]
    assert ends_seen(away, [np.array([110.0, 120.0])], 300) == (False, False)


def test_run_ends_of_even_steps_are_even():
    tab = table()
    enc = Encoder(tab)
    runs, tracks = [], []
    for start, direction in ((0.0, 1), (RANGE, -1)):
        run, xs = run_of(tab, start, direction, 10.0, 26)
        runs.append(run)
        tracks.append(np.where(np.abs(xs - 150) < 9, np.nan, xs))
    near, far, error = run_ends(runs, tracks, 10.0, 0.0, encoder=enc, noise=1.0,
                                placement_var=0.05, range_steps=RANGE, play=0.0)
    assert near == pytest.approx(10.0, abs=0.05) and far == pytest.approx(10.0, abs=0.05)
    assert 0 < error < 0.5
    # Too few placed frames: the mean, at both ends, not known.
    assert run_ends(runs[:1], [np.full(26, np.nan)], 10.0, 0.0, encoder=enc, noise=1.0,
                    placement_var=0.05, range_steps=RANGE, play=0.0) == (10.0, 10.0, math.inf)


def test_placement_var_of_frames_at_their_positions_is_small():
    tab = table()
    rng = np.random.default_rng(1)
    positions = list(range(20, 140, 3))
    frames = [tab[p] + rng.normal(0, 0.05, tab.shape[1]).astype(np.float32) for p in positions]
    assert placement_var(Encoder(tab), frames, positions, 200, RANGE) < 0.01
    shifted_frames = [at(tab, p + 0.4 * (-1) ** p) for p in positions]   # biased by +-0.4
    assert placement_var(Encoder(tab), shifted_frames, positions, 200, RANGE) \
        == pytest.approx(0.16, abs=0.03)
    assert placement_var(Encoder(tab), frames[:4], positions[:4], 200, RANGE) == 0.1


def test_far_stop_fit_aligns_the_way_back_with_the_sweep():
    tab = table(n=360)
    sweep = list(tab[:340])
    record = [tab[300 - j] for j in range(1, 61)]      # 60 steps back from 300
    assert far_stop_fit(sweep, record, first_still=310, window=40) == 300
    assert far_stop_fit(sweep[:50], record, first_still=40, window=40) is None


def test_stalled_needs_single_frames_and_block_means_still():
    rng = np.random.default_rng(1)
    noise_sd, n, width = 1.0, 120, 1024
    base = rng.uniform(50, 150, width)
    floor = 2 * noise_sd ** 2          # mean squared difference of two noisy frames

    def frames(drift):
        return [(base + drift * i + rng.normal(0, noise_sd, width)).astype(np.float32)
                for i in range(n)]
    rest = frames(0.0)
    assert stalled(rest, 100, 40, 10, floor)
    assert not stalled(rest, 48, 40, 10, floor)        # not yet a window and a block in
    # A drift of 0.015 grey levels a step: 0.6 over the window, lost in a single
    # frame's noise, but the block means (a tenth of its variance) show it.
    creeping = frames(0.015)
    assert all(np.mean((creeping[100] - creeping[100 - k]) ** 2) < 1.35 * floor
               for k in (10, 20, 30, 40))
    assert not stalled(creeping, 100, 40, 10, floor)
    # A lens still moving fast: single frames already differ.
    assert not stalled(frames(0.5), 100, 40, 10, floor)


def test_far_stop_back_passes_the_sharp_point_on_the_working_side_never_into_the_near_stop():
    # Working on the far side: back to 15 steps past the sharp point.
    assert far_stop_back(400, 250, True, 40, 450) == 400 - 265
    # On the near side: across the sharp point, 15 steps and a window more.
    assert far_stop_back(400, 250, False, 40, 450) == 400 - 235 + 40
    # A sharp point next to the far stop: still 60 steps back, to vote ...
    assert far_stop_back(400, 390, True, 40, 450) == 60
    # ... or half the range on a short one ...
    assert far_stop_back(100, 95, True, 40, 150) == 50
    # ... and never into the near stop, nor past the sweep's start.
    assert far_stop_back(100, 20, False, 40, 150) == 95
    assert far_stop_back(400, 20, False, 40, 200) == 195


def test_sharpest_is_the_smoothed_peak_and_its_contrast():
    x = np.arange(200)
    sharp = list(1.0 + 9.0 * np.exp(-((x - 70) / 8.0) ** 2))
    subject, contrast = sharpest(sharp, 150)
    assert subject == 70 and contrast == pytest.approx(9.0, rel=0.1)
    assert sharpest(sharp, 40)[0] <= 40        # only up to the estimate


def test_shifted_moves_the_sweep_by_the_play():
    tab = table(n=101)
    sharp = list(np.arange(101, dtype=float))
    same, sharp0, span0 = shifted(list(tab), sharp, 100, 0.0)
    assert span0 == 100 and np.allclose(np.stack(same), tab) and sharp0 == sharp
    moved, sharp2, span = shifted(list(tab), sharp, 100, 2.5)
    assert span == 95
    assert np.allclose(moved[10], at(tab, 12.5), atol=1e-3)
    assert sharp2[10] == pytest.approx(12.5)


def test_motion_time_sits_between_the_gaps_that_lost_and_those_that_did_not():
    true_m, steps = 0.23, 26.0
    trains = []
    for gap in (0.1, 0.15, 0.2, 0.22, 0.24, 0.3, 0.4):
        returns = [i * gap for i in range(4)]
        last, lost = returns[0], 0
        for t in returns[1:]:
            if t - last >= true_m:
                last = t
            else:
                lost += 1
        trains.append((returns, steps * lost))
    m = motion_time(trains, steps, 0.0)
    assert 0.22 < m <= 0.24


def test_sony_readings_against_the_sweep():
    straight = [(c, round(100 * min(c, 400) / 400)) for c in range(0, 420, 4)]
    assert readings_off(straight, 400)[0] == 0.0
    bent = [(c, u + (3 if 100 < c < 300 else 0)) for c, u in straight]
    share, most = readings_off(bent, 400)
    assert share == pytest.approx(49 / 105, abs=0.02) and most == 3
    assert same_readings(bent, bent, 400) and not same_readings(straight, bent, 400)
    assert not same_readings(straight, [(1000, 0.0)], 400)
    kept = linear(straight, 400, 1)
    assert kept["focalposition_linear"] is True and kept["sweeps"] == 1
    assert abs(kept["focalposition_range"] - 400) <= 4


def test_snap_to_whole_steps():
    assert snap(25.9, 0.15) == 26.0 and snap(25.8, 0.15) == 25.8
    assert snap(0.95, 0.15) == 1.0 and snap(0.1, 0.15) == 0.1    # never snapped to 0


def test_whole_steps_snap_the_ends_only_with_the_mean():
    assert whole_steps(25.95, 25.5, 26.4, 0.15) == (26.0, 25.5, 26.4)     # ends differ: kept
    assert whole_steps(25.95, 25.9, 26.1, 0.15) == (26.0, 26.0, 26.0)     # whole everywhere
    assert whole_steps(26.0, 25.9, 26.1, 0.15) == (26.0, 25.9, 26.1)      # already whole
    assert whole_steps(25.5, 25.4, 25.6, 0.15) == (25.5, 25.4, 25.6)      # fractional


def test_precise_enough_wants_the_mean_known_and_enough_increments():
    # 100 commands of spread 0.5: standard error about 0.05 < 1 % of 26 steps.
    assert precise_enough(26.0, 0.5, 100, 100, 0.01, 0.1)
    # The same spread over 4 commands: 0.25 or more, too loose.
    assert not precise_enough(26.0, 0.5, 100, 4, 0.01, 0.1)
    # No spread, but too few increments to say so.
    assert not precise_enough(26.0, 0.0, 19, 100, 0.01, 0.1)
    assert precise_enough(26.0, 0.0, 20, 100, 0.01, 0.1)
    # A small step: the floor in steps (0.1) is the target, not 1 % of 2 steps.
    assert precise_enough(2.0, 0.9, 100, 100, 0.01, 0.1)
    assert not precise_enough(2.0, 0.9, 100, 100, 0.01, 0.01)


def test_first_guess_is_a_quarter_of_the_next_larger_size():
    assert first_guess({}, 3) == 20.0
    assert first_guess({3: 26.0}, 2) == 6.5
    assert first_guess({3: 26.0, 2: 4.0}, 1) == 1.0         # the smallest larger one
    assert first_guess({2: 4.0}, 3) == 20.0                 # smaller sizes do not count
