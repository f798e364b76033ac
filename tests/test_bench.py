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


def test_takes_bench_prints_its_figures_for_both_ways():
    """bench/takes.py on one take of the jittery lens: every figure, for both ways."""
    import re
    import subprocess
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "bench" / "takes.py"), "--takes", "1",
                          "--seed", "3", "--jobs", "1", "--profiles", "canon-ef24-jittery"],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    number = r"(\d+\.\d+|nan)"
    rows = {}
    for way in ("rig as shipped", "counting alone"):
        m = re.search(rf"{way}\s+(\d+)\s+{number}%\s+{number}\s+{number}\s+{number}\s+"
                      rf"(\S+)\s+(\S+)\s+{number}%\s+(\d+)\s+(\d+)\s+(\d+)\s+{number}", text)
        assert m, f"no row for {way}:\n{text}"
        rows[way] = m.groups()
        assert int(m.group(1)) >= 4 * 3                # a take: 4+ points, 3 runs
        median, p95, worst = (float(m.group(i)) for i in (3, 4, 5))
        assert 0 <= median <= p95 <= worst
    assert rows["counting alone"][5:7] == ("1.00", "1.00")   # the baseline against itself
    assert int(rows["counting alone"][9]) == 0               # counting never goes via the stop
    for way in ("rig as shipped", "counting alone"):
        assert re.search(rf"^{way}: repeat-exact lenses .* play pulls within 3 % of plan "
                         rf"\d+\.\d % of \d+; unasked lens motions in play \d+ .*"
                         rf"Qs through the stop \d+, beyond 3σ \d+ \(a normal distribution "
                         rf"expects \d+\.\d\d\)$", text, re.M), text
