"""Did the lens land on its mark?  The one rule ``rig demo``, ``rig simulate`` and the tests use.

Exact where the lens's commands repeat; where they spread, within the
position model's own bound (3 sigma of the uncertainty the rig kept for that
landing, docs/cameras.md), judged against the simulator's truth.
"""

import dataclasses
import math

import pytest

from rig.harness import (LANDING_SIGMAS, ON_STEP, commands_spread, landing_bound, on_mark,
                         simulate)
from rig.script import parse_script
from rig.sim import PROFILES, load_profile

LEGACY = PROFILES / "canon-ef24.toml"
REAL = PROFILES / "canon-ef24-real.toml"


def _landing(target, true_position, bound):
    return {"target_step": target, "true_step": round(true_position),
            "true_position": true_position, "bound_steps": bound}


def test_which_simulated_lenses_spread_their_commands():
    assert not commands_spread(load_profile(LEGACY))           # its commands repeat exactly
    assert commands_spread(load_profile(REAL))                 # sizes 2 and 3 spread
    assert not commands_spread(load_profile(PROFILES / "fuji-gfx.toml"))   # absolute moves
    legacy = load_profile(LEGACY)
    jittery = dataclasses.replace(legacy, drive={
        k: dataclasses.replace(d, jitter=0.5 if k == 3 else d.jitter)
        for k, d in legacy.drive.items()})
    assert commands_spread(jittery)


def test_the_bound_is_zero_where_commands_repeat_and_three_sigma_where_they_spread():
    assert landing_bound(False, 4.0) == 0.0                    # exact, whatever sigma says
    assert landing_bound(True, 2.0) == pytest.approx(LANDING_SIGMAS * 2.0)
    assert landing_bound(True, math.inf) is None                # the count was lost


def test_a_landing_off_by_one_step_fails_where_commands_repeat():
    assert on_mark(_landing(200, 200.2, 0.0))
    assert not on_mark(_landing(200, 201.0, 0.0))
    assert not on_mark(_landing(200, 201.0, None))             # no bound: only exact passes


def test_a_landing_beyond_its_bound_fails_where_commands_spread():
    bound = landing_bound(True, 1.5)                            # 4.5 steps
    assert on_mark(_landing(200, 200 + bound + ON_STEP - 0.01, bound))
    assert on_mark(_landing(200, 200 - bound - ON_STEP + 0.01, bound))
    assert not on_mark(_landing(200, 200 + bound + ON_STEP + 0.01, bound))
    assert not on_mark(_landing(200, 200 - bound - 2.0, bound))


SCRIPT = """\
+0    wait idle
+1    press info
+0.5  press info
+0.5  press q
+0.5  turn focus 150
+0    wait idle
+0.5  press q
+0.5  hold up 1.0
+0    wait idle
+0.5  turn focus 120
+0    wait idle
+0.5  press q
+0.5  hold up 1.0
+0    wait idle
+1    press info
+0    wait idle
+1    press q
+0    wait idle
+1    press set
+0    wait idle
+1    press set
+0    wait idle
"""


@pytest.mark.parametrize("path", [LEGACY, REAL], ids=["repeats", "spreads"])
def test_every_landing_carries_the_rigs_own_sigma_and_its_bound(path, tmp_path, calibrations):
    profile = load_profile(path)
    state = calibrations.state_dir(profile, tmp_path / "state")
    report = simulate(profile, parse_script(SCRIPT), state_dir=state).to_json()
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
