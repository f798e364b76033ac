"""Did the lens land on its mark?  The one rule ``rig demo``, ``rig simulate`` and the tests use.

Exact where the lens's commands repeat; where they spread, within the
position model's own bound (3 sigma of the uncertainty the rig kept for that
landing, docs/cameras.md), judged against the simulator's truth.
"""

import dataclasses

import pytest

from rig.cli import DEMO_SCRIPT
from rig.harness import (LANDING_SIGMAS, ON_STEP, commands_spread, landing_bound, on_mark,
                         simulate)
from rig.script import load_script
from rig.sim import PROFILES, known_calibration, load_profile
from rig.store import Store

LEGACY = PROFILES / "canon-ef24.toml"
REAL = PROFILES / "canon-ef24-real.toml"


def test_which_simulated_lenses_spread_their_commands():
    assert not commands_spread(load_profile(LEGACY))           # its commands repeat exactly
    assert commands_spread(load_profile(REAL))                 # sizes 2 and 3 spread
    assert not commands_spread(load_profile(PROFILES / "fuji-gfx.toml"))   # absolute moves
    legacy = load_profile(LEGACY)
    jittery = dataclasses.replace(legacy, drive={
        k: dataclasses.replace(d, jitter=0.5 if k == 3 else d.jitter)
        for k, d in legacy.drive.items()})
    assert commands_spread(jittery)


@pytest.mark.parametrize("path", [LEGACY, REAL], ids=["repeats", "spreads"])
def test_every_landing_carries_the_rigs_own_sigma_and_its_bound(path, tmp_path, calibrations):
    profile = load_profile(path)
    state = calibrations.state_dir(profile, tmp_path / "state")
    report = simulate(profile, load_script(DEMO_SCRIPT), state_dir=state).to_json()
    moves = report["transitions"]
    assert len(moves) >= 3
    for t in moves:
        assert t["sigma_steps"] is not None and t["sigma_steps"] >= 0
        if commands_spread(profile):
            assert t["sigma_steps"] > 0                      # the rig knows its count spreads
            assert t["bound_steps"] == pytest.approx(LANDING_SIGMAS * t["sigma_steps"], abs=0.01)
        else:
            assert t["bound_steps"] == 0.0
        # the rig's count is where it aimed, and the truth is within the rig's own bound
        assert abs(t["rig_position"] - t["target_step"]) <= ON_STEP, t
        assert on_mark(t), t


def _true_calibration(profile):
    """The profile's lens as a perfect calibration reports it, its spread included."""
    cal = known_calibration(profile)
    return dataclasses.replace(cal, drive=tuple(
        dataclasses.replace(d, jitter=profile.drive[d.size].jitter or None) for d in cal.drive))


def test_the_demo_on_a_lens_whose_commands_spread_lands_within_the_models_bound(tmp_path):
    """canon-ef24-real's sizes 2 and 3 spread (0.3 and 0.8 steps a command): with its true
    calibration its landings end a step or a few off, within 3 sigma of the rig's own
    uncertainty; and the rule still refuses a landing beyond that bound."""
    profile = load_profile(PROFILES / "canon-ef24-real.toml")
    Store(tmp_path).save_calibration(_true_calibration(profile))
    report = simulate(profile, load_script(DEMO_SCRIPT), state_dir=tmp_path).to_json()
    assert report["errors"] == []
    moves = report["transitions"]
    assert len(moves) == 7
    for t in moves:
        assert t["sigma_steps"] > 0 and t["bound_steps"] == pytest.approx(3 * t["sigma_steps"],
                                                                           abs=2e-3), t
        assert on_mark(t), t
    # The commands really spread: the old rule (true == target) fails here.
    assert any(t["true_step"] != t["target_step"] for t in moves)
    # A landing just beyond its bound (half a step for the count's own landing) is off,
    # either side; just within, on.
    for t in moves:
        for side in (1, -1):
            beyond = dict(t, true_position=t["target_step"] + side * (t["bound_steps"] + 0.6))
            assert not on_mark(beyond), beyond
            within = dict(t, true_position=t["target_step"] + side * (t["bound_steps"] + 0.4))
            assert on_mark(within), within


def test_where_commands_repeat_the_rule_is_exact_whatever_sigma_says():
    assert commands_spread(load_profile(PROFILES / "canon-ef24-real.toml"))
    assert not commands_spread(load_profile(LEGACY))
    # Time alone grows sigma (a lens left alone may be touched): no bound from it.
    assert landing_bound(False, 0.5) == 0.0
    assert landing_bound(True, 0.5) == 1.5
    assert landing_bound(True, float("inf")) is None
    move = {"target_step": 120, "true_step": 121, "true_position": 120.6, "bound_steps": 0.0}
    assert not on_mark(move)
    assert on_mark(dict(move, true_step=120, true_position=120.4))
    assert not on_mark(dict(move, bound_steps=None))      # the rig lost its count
    assert on_mark(dict(move, bound_steps=1.5))
