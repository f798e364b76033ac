"""The benchmarks' own parts: the focus_sq baseline reproduces the module's published plans;
bench/lens_zoo.py judges calibrations against the truth and prints its report."""

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


# ------------------------------------------------------------ bench/lens_zoo.py

import subprocess  # noqa: E402

import lens_zoo  # noqa: E402

TRUTH = {"range": 600, "drive": {1: (1.0, 1.0), 2: (4.0, 4.4), 3: (26.0, 23.0)},
         "backlash": 2.4, "busy": "queue"}


def _cal(**change):
    cal = {"lens": "Zoo", "steps": 600, "backlash": 2.0,
           "drive": [{"size": 1, "steps": 1.0, "speed": 20.0},
                     {"size": 2, "steps": 4.2, "speed": 40.0, "steps_near": 4.05,
                      "steps_far": 4.35},
                     {"size": 3, "steps": 24.5, "speed": 90.0, "steps_near": 25.5,
                      "steps_far": 23.4}]}
    cal.update(change)
    return {"status": "saved", "calibration": cal, "virtual_s": 150.0}


def test_zoo_truth_comes_from_the_drawn_profile():
    from rig.zoo import draw
    values = draw(7)
    truth = lens_zoo.truth_of(values)
    assert truth["range"] == values["steps"] and truth["backlash"] == values["backlash"]
    assert truth["drive"][1] == (1.0, 1.0)
    assert truth["drive"][3] == (values["drive"]["3"]["steps"], values["drive"]["3"]["steps_far"])


def test_zoo_judges_a_calibration_within_every_tolerance_recovered():
    v = lens_zoo.judge(_cal(), TRUTH)
    assert v.kind == "recovered" and v.saved and v.virtual_s == 150.0 and not v.off


def test_zoo_judges_a_saved_calibration_off_by_a_little_more_than_a_tolerance_wrong():
    for change, word in (({"steps": 607}, "range"),              # 1.17 % off
                         ({"backlash": 3.5}, "backlash"),        # 1.1 steps off
                         ({"drive": [{"size": 1, "steps": 1.0, "speed": 20.0},
                                     {"size": 2, "steps": 4.2, "speed": 40.0,
                                      "steps_near": 4.05, "steps_far": 4.65},   # +5.7 %
                                     {"size": 3, "steps": 24.5, "speed": 90.0,
                                      "steps_near": 25.5, "steps_far": 23.4}]},
                          "size 2 steps_far")):
        v = lens_zoo.judge(_cal(**change), TRUTH)
        assert v.kind == "wrong", change
        assert len(v.off) == 1 and v.off[0].startswith(word), v.off
    assert lens_zoo.judge(_cal(steps=605), TRUTH).kind == "recovered"   # 0.83 %: within


def test_zoo_names_what_a_calibration_does_not_measure():
    old = {"lens": "Zoo", "steps": 600,
           "drive": [{"size": 1, "steps": 1.0, "speed": 20.0},
                     {"size": 2, "steps": 4.2, "speed": 40.0},
                     {"size": 3, "steps": 24.5, "speed": 90.0}]}
    v = lens_zoo.judge({"status": "saved", "calibration": old}, TRUTH)
    assert v.kind == "incomplete" and not v.off
    assert v.missing == ["size 2 steps_near/steps_far", "size 3 steps_near/steps_far",
                         "backlash"]
    old["drive"][2]["steps"] = 27.0                   # mean 24.5: +10 %
    v = lens_zoo.judge({"status": "saved", "calibration": old}, TRUTH)
    assert v.kind == "wrong" and v.off[0].startswith("size 3 steps") and "(mean)" in v.off[0]


def test_zoo_judges_each_refusal_against_the_truth():
    def refusal(message, cause=None, hung=False):
        return lens_zoo.judge({"status": "refused", "message": message, "cause": cause,
                               "camera_hung": hung, "virtual_s": 30.0}, TRUTH)

    mf = refusal("the lens does not move when driven: set the lens switch to AF")
    assert (mf.kind, mf.cause, mf.cause_from, mf.cause_true) == ("refused", "mf", "words", False)
    assert refusal("too little detail to calibrate").cause_true is False
    assert refusal("lost the lens during the speed measurement: keep the scene and the "
                   "camera still").cause == "scene"
    assert refusal("no far stop within 3000 steps: is the scene still?").cause_true is False
    honest = refusal("whatever the words", cause="precision")
    assert (honest.cause, honest.cause_from, honest.cause_true) == ("precision", "attribute",
                                                                    True)
    assert refusal("anything", cause="check").cause_true is True
    assert refusal("the camera stopped answering", cause="camera").cause_true is False
    assert refusal("the camera stopped answering", cause="camera", hung=True).cause_true is True
    unknown = refusal("something nobody foresaw")
    assert (unknown.cause, unknown.cause_true) == ("unclassified", None)


def test_zoo_counts_tracebacks_hangs_and_missing_results_apart():
    trace = lens_zoo.judge({"status": "traceback",
                            "error": "Traceback...\nZeroDivisionError: division by zero"}, TRUTH)
    assert trace.kind == "traceback" and trace.detail == "ZeroDivisionError: division by zero"
    assert lens_zoo.judge({"status": "hang", "wall_s": 60.0}, TRUTH).kind == "hang"
    assert lens_zoo.judge({"status": "saved"}, TRUTH).kind == "no result"
    internal = lens_zoo.judge({"status": "refused", "cause": "internal",
                               "message": "calibration failed: ZeroDivisionError"}, TRUTH)
    assert internal.kind == "traceback" and "ZeroDivisionError" in internal.detail


def test_zoo_summary_counts_each_kind():
    verdicts = [lens_zoo.judge(_cal(), TRUTH), lens_zoo.judge(_cal(steps=620), TRUTH),
                lens_zoo.judge({"status": "refused", "message": "set the lens switch to AF",
                                "virtual_s": 20.0}, TRUTH)]
    rows = dict(lens_zoo.summary(verdicts, [600, 1200, 600]))
    assert rows["recovered"] == "1/3 (33 %)" and rows["wrong calibrations saved"] == "1/3 (33 %)"
    assert rows["  reason false"] == "1" and rows["  mf"] == "1 (1 false)"
    assert rows["  lenses <= 1000 steps"] == "2.5 / 2.5 min (1)"


def test_zoo_reports_a_calibration_past_its_timeout_as_a_hang(tmp_path):
    from rig.zoo import draw, dump
    profile = tmp_path / "zoo.toml"
    profile.write_text(dump(draw(2)))
    out = lens_zoo.run_one(lens_zoo.ROOT, profile, timeout=0.2)   # not even Python starts
    assert out["status"] == "hang"


def test_lens_zoo_prints_its_report_side_by_side():
    done = subprocess.run([sys.executable, str(lens_zoo.ROOT / "bench" / "lens_zoo.py"),
                           "--n", "1", "--seed", "2", "--jobs", "2", "--timeout", "30"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "[  1/1]     2 " in text
    assert f"previous {lens_zoo.PREVIOUS_REV}" in text and "now" in text
    for figure in ("recovered", "wrong calibrations saved", "refused", "reason false",
                   "tracebacks", "hangs (timeout)", "time saved, median / p90",
                   "lenses <= 1000 steps", "failures, now"):
        assert figure in text, figure


def test_zoo_table_keeps_a_figure_only_one_version_has_among_its_neighbours():
    text = lens_zoo.table({"previous": [("refused", "2"), ("  mf", "2"), ("tracebacks", "0")],
                           "now": [("refused", "1"), ("  check", "1"), ("tracebacks", "0")]})
    rows = [line.split()[0] for line in text.splitlines()[1:]]
    assert rows == ["refused", "check", "mf", "tracebacks"]
    assert text.splitlines()[2].split() == ["check", "-", "1"]


def test_zoo_reads_the_refusal_rig_calibrate_printed():
    said = lens_zoo._refusal_said("progress...\nrig: calibration refused (cause: precision): "
                                  "the first 40 size-1 steps did not change the picture\n")
    assert said == ("precision", "the first 40 size-1 steps did not change the picture")
    assert lens_zoo._refusal_said("rig: calibration saved to x.json\n") is None


# ------------------------------------------------------------ bench/rehome.py

import pytest  # noqa: E402

import rehome  # noqa: E402


def test_rehome_interval_is_the_exact_binomial_one():
    lo, hi = rehome.clopper_pearson(5, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.0164, 0.1128)       # the textbook values
    assert rehome.clopper_pearson(0, 100) == (0.0, pytest.approx(1 - 0.025 ** (1 / 100)))
    lo, hi = rehome.clopper_pearson(7, 40)
    assert rehome.binomial_cdf(7, 40, hi) == pytest.approx(0.025, abs=1e-9)
    assert 1 - rehome.binomial_cdf(6, 40, lo) == pytest.approx(0.025, abs=1e-9)


def test_rehome_bench_finds_nothing_but_the_commands_spread_after_the_stop():
    """After a Q through the stop, the lens is off its count by its commands' own draws and
    nothing else: no lost or queued command, no slip, the backlash taken up as planned, and
    the rig's sigma is the take bench's count of the calibrated spreads."""
    lenses = rehome.take_profiles(["canon-ef24-jittery", "canon-ef24-real"])
    _, qs = rehome.run_seed(("jittery", lenses["canon-ef24-jittery"], 3, 12))
    assert any(abs(q.error) > 1 for q in qs)
    for q in qs:      # steps the same everywhere: the draws are the whole error
        assert abs(q.residual) < 1e-9 and q.sigma == pytest.approx(q.counted, abs=1e-3)
        assert (q.lost, q.queued, q.slips) == (0, 0, 0)
    # Backlash (2 steps, taken up leaving the stop), a queueing camera, steps that grow
    # along the range: a lens off by d steps takes steps of e(x + d), which the count
    # does not know: a few % of the error, no more.
    _, qs = rehome.run_seed(("real", lenses["canon-ef24-real"], 3, 12))
    for q in qs:
        assert abs(q.residual) <= 0.05 * abs(q.error) + 0.05, q
        assert q.sigma == pytest.approx(q.counted, abs=1e-3) and q.lost == 0
