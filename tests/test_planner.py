"""Plans land exactly, meet the target duration, and never overlap commands."""

import itertools
import math

import pytest

from rig.planner import Drive, LensModel, fastest_time, plan_move

EF24 = LensModel(407, (Drive(1, 1.0, 1 / 23.496), Drive(2, 4.0, 4 / 48.733),
                       Drive(3, 26.0, 26 / 94.321)))
OTHER = LensModel(600, (Drive(1, 1.0, 1 / 30.0, 0.030), Drive(2, 3.0, 3 / 55.0, 0.05),
                        Drive(3, 20.0, 20 / 120.0, 0.15)))


def brute_fastest(distance, model):
    sizes = sorted(model.drives, key=lambda d: d.steps)
    best = math.inf
    ranges = [range(int(distance // d.steps) + 1) for d in sizes[1:]]
    for counts in itertools.product(*ranges):
        left = distance - sum(n * d.steps for n, d in zip(counts, sizes[1:]))
        if left < 0:
            continue
        best = min(best, left * sizes[0].period + sum(
            n * d.period for n, d in zip(counts, sizes[1:])))
    return best


@pytest.mark.parametrize("model", [EF24, OTHER], ids=["ef24", "other"])
def test_fastest_is_the_brute_force_optimum(model):
    for distance in range(1, model.steps + 1, 3):
        assert fastest_time(distance, model)[0] == pytest.approx(
            brute_fastest(distance, model), abs=1e-9)


def _landing(plan, model):
    return sum(plan.direction * model.drive(c.size).steps for c in plan.commands)


@pytest.mark.parametrize("model", [EF24, OTHER], ids=["ef24", "other"])
@pytest.mark.parametrize("a,b", [(0, 407), (407, 0), (100, 101), (250, 120), (33, 300)])
@pytest.mark.parametrize("target", [0.0, 0.5, 2.0, 7.5, 30.0])
def test_plans_land_exactly_and_meet_the_duration(model, a, b, target):
    b = min(b, model.steps)
    plan = plan_move(a, b, target, model)
    assert _landing(plan, model) == b - a
    if target >= plan.fastest_s:
        assert plan.duration_s == pytest.approx(target, abs=1e-3)
    else:
        assert plan.duration_s == pytest.approx(plan.fastest_s, abs=1e-9)
    # Commands are in time order, at least a period apart, and the last
    # one's motion ends at the plan's duration.
    for c, d in zip(plan.commands, plan.commands[1:]):
        assert d.t >= c.t + model.drive(c.size).period - 1e-9
    last = plan.commands[-1]
    assert last.t + model.drive(last.size).motion == pytest.approx(plan.duration_s, abs=1e-9)
    assert plan.commands[0].t >= 0


def test_a_slow_transition_uses_small_steps():
    plan = plan_move(100, 200, 10.0, EF24)
    assert plan.counts == {1: 100, 2: 0, 3: 0}


def test_zero_length_move_is_a_wait():
    plan = plan_move(120, 120, 3.0, EF24)
    assert plan.commands == () and plan.duration_s == 3.0 and plan.fastest_s == 0.0


def test_large_steps_are_spread_not_bunched():
    plan = plan_move(0, 300, 6.0, EF24)
    big = [i for i, c in enumerate(plan.commands) if c.size == 3]
    assert big, "a 300-step move in 6 s needs size 3"
    gaps = [b - a for a, b in zip(big, big[1:])]
    assert max(gaps) - min(gaps) <= 2 if gaps else True


def test_plan_json_contract():
    data = plan_move(10, 300, 4.0, EF24).to_json()
    assert set(data) >= {"from", "to", "target_s", "duration_s", "fastest_s", "counts",
                         "commands"}
    assert set(data["counts"]) == {"1", "2", "3"}
    assert [c["t"] for c in data["commands"]] == sorted(c["t"] for c in data["commands"])
