"""The focus_sq baseline used by the benchmark reproduces the module's published plans."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import focus_sq  # noqa: E402

STEPS, SPEED = (26, 4, 1), (94.321, 48.733, 23.496)


def test_known_distributions():
    assert focus_sq.distribute(100, 0.0, STEPS, SPEED).counts == (3, 5, 2)     # greedy fastest
    assert focus_sq.distribute(100, 1.5, STEPS, SPEED).counts == (2, 12, 0)
    assert focus_sq.distribute(100, 3.0, STEPS, SPEED).counts == (0, 14, 44)
    plan = focus_sq.distribute(400, 6.0, STEPS, SPEED)
    assert plan.counts == (9, 41, 2) and abs(plan.wait - 0.0687) < 1e-3


def test_short_moves_can_be_planned_empty_and_left_to_the_correction():
    plan = focus_sq.distribute(29, 0.5, STEPS, SPEED)
    assert plan.counts == (0, 0, 0)
    _, knots = focus_sq.simulate(29, 0.5, {1: 1, 2: 4, 3: 26}, {1: 23.496, 2: 48.733, 3: 94.321})
    assert knots[-1][1] == 29          # the final correction gets there, late


def test_replay_interleaves_and_sleeps():
    replay = focus_sq.replay(focus_sq.distribute(400, 6.0, STEPS, SPEED))
    kinds = [k for k, _ in replay]
    assert kinds.count("3") == 9 and kinds.count("2") == 41 and kinds.count("1") == 2
    assert kinds.count("sleep") == 6 and all(s == 0.01 for k, s in replay if k == "sleep")
