"""The simulator's picture: optics, layers, and scenes that change (issues 12 and 13).

Pictures are checked before the sensor noise (``View.picture``) where an
exact geometry is wanted, and as the JPEG the camera sends where the rig
would see it.  Scenes with flat (contrast 0) layers have nothing but their
edges, which makes blur and scale measurable to a fraction of a pixel.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

from rig.clock import VirtualClock
from rig.harness import check_scene
from rig.inputs import InputError
from rig.script import parse_script
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile, parse_profile

LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"     # the plane without optics
from rig.simview import Plate, jinc, level_of, level_value
from rig.vision import focus_measure, grey

# A 50 mm f/2 lens: 16.67 px of disc per dioptre at 480 px wide; the near stop
# focuses at 0.4 m (2.5 D), the far stop at infinity over 500 steps.  Layers:
# a background at 10 m (sharp at 480), a shelf at 2 m (sharp at 400) and the
# subject at 1 m (sharp at 300).
SCENE = """\
vendor = "canon"
lens = "Test 50mm f/2"
steps = 500
start = 250
latency_ms = 20
preview_ms = 100
preview_size = [480, 320]
seed = 5
[optics]
focal_mm = 50.0
f_number = 2.0
min_focus_m = 0.4
breathing = {breathing}
[drive.1]
steps = 1.0
speed = 25.0
[drive.2]
steps = 4.0
speed = 50.0
[drive.3]
steps = 26.0
speed = 95.0
[scene]
noise = {noise}
[[scene.layers]]
distance_m = 10.0
contrast = {contrast}
[[scene.layers]]
distance_m = 2.0
box = [0.05, 0.05, 0.15, 0.2]
contrast = {contrast}
[[scene.layers]]
distance_m = 1.0
box = [0.25, 0.25, 0.5, 0.5]
contrast = {contrast}
"""
PX_PER_DIOPTRE = 50.0 ** 2 / 2.0 / 1000.0 * 480 / 36.0


def body(breathing=0.0, noise=0.0, contrast=0.0):
    profile = parse_profile(SCENE.format(breathing=breathing, noise=noise, contrast=contrast),
                            "<scene>")
    clock = VirtualClock()
    return SimBody(profile, clock), clock


def crossing(profile_line, level):
    """Where a monotonic stretch of a profile crosses ``level``, to a fraction of a pixel."""
    values = np.asarray(profile_line, dtype=np.float64)
    i = int(np.argmax((values[:-1] - level) * (values[1:] - level) <= 0))
    a, b = values[i], values[i + 1]
    return i + (0.5 if a == b else (level - a) / (b - a)) + 0.5   # pixel centres at i + 0.5


def edge(picture, row=None, col=None, lo=None, hi=None):
    """The 50 % point of an edge between grey levels ``lo`` and ``hi`` along a row or column."""
    line = picture[row, :] if row is not None else picture[:, col]
    return crossing(line, (lo + hi) / 2.0)


def disc_edge_width(diameter, tail=0.02):
    """How far a disc-blurred edge takes from ``tail`` to 1 - ``tail``: the chord's area."""
    r = diameter / 2.0
    d = np.linspace(0.0, r, 100001)
    chord = r * r * np.arccos((r - d) / r) - (r - d) * np.sqrt(2 * r * d - d * d)
    area = chord / (math.pi * r * r)
    return diameter - 2.0 * float(d[np.searchsorted(area, tail)])


def levels(picture):
    """The flat subject's and background's grey levels (the middle and a corner)."""
    h, w = picture.shape
    return float(picture[h // 2, w // 2]), float(picture[h - 5, w - 5])


# ------------------------------------------------------------------ optics


def test_jinc_is_the_disc_transform():
    assert jinc(np.array([0.0]))[0] == 1.0
    for zero in (3.8317059702, 7.0155866698, 10.1734681351, 13.3236919363):
        assert abs(jinc(np.array([zero]))[0]) < 2e-6
    theta = np.linspace(0.0, math.pi, 40001)
    for x in (0.5, 3.0, 11.9, 12.1, 30.0, 80.0):
        j1 = np.trapezoid(np.cos(theta - x * np.sin(theta)), theta) / math.pi
        assert jinc(np.array([x]))[0] == pytest.approx(2.0 * j1 / x, abs=2e-6)


def test_blur_levels_interpolate_in_order():
    assert [level_value(n) for n in range(4)] == [0.0, 0.25, 0.5, 0.75]
    for blur in (0.0, 0.1, 3.99, 4.0, 4.1, 27.3, 180.0):
        n, f = level_of(blur)
        assert level_value(n) <= blur + 1e-9 < level_value(n + 1)
        assert blur == pytest.approx(level_value(n) + f * (level_value(n + 1) - level_value(n)),
                                     rel=0.01, abs=1e-9)


def test_a_point_blurs_into_a_flat_disc_not_a_gaussian():
    texture = np.zeros((256, 256), dtype=np.float32)
    texture[128, 128] = 1000.0
    n, _ = level_of(24.0)
    assert level_value(n) == pytest.approx(24.0, rel=0.05)
    spot = Plate("point", texture, periodic=True).blurred(n)[0]
    assert spot.sum() == pytest.approx(1000.0, rel=1e-3)
    row = spot[128, 128:]
    radius = level_value(n) / 2
    inside, outside = row[: int(radius * 0.6)], row[int(radius + 2.5):int(radius + 8)]
    assert inside.min() > 0.85 * inside.max()          # flat-topped: a disc
    assert np.abs(outside).max() < 0.05 * row[0]       # and nothing beyond its rim
    area = np.count_nonzero(spot > row[0] / 2)
    assert area == pytest.approx(math.pi * radius ** 2, rel=0.06)


@pytest.mark.parametrize("x", [0.0, 150.0, 480.0])
def test_each_layer_blurs_by_the_disc_of_its_own_distance(x):
    """The subject's edge spreads over the contract's disc: (f^2/N)|1/s - 1/d(x)|."""
    sim, clock = body()
    picture = sim.view.picture(x, clock.now())
    subject, background = levels(picture)
    assert abs(subject - background) > 25
    diameter = PX_PER_DIOPTRE * abs(1.0 - 2.5 * (1 - x / 500))
    line = picture[160, 40:240].astype(np.float64)
    lo, hi = sorted((background, subject))
    frac = (line - background) / (subject - background)
    # a disc's edge goes from 2 % to 98 % over 0.9 of its diameter, and stops there
    width = crossing(frac, 0.98) - crossing(frac, 0.02)
    assert width == pytest.approx(disc_edge_width(diameter), abs=0.6)
    # compact: its far tails are barely wider (a Gaussian's would be 1.4 times as wide)
    assert crossing(frac, 0.998) - crossing(frac, 0.002) < 1.2 * width
    assert edge(picture, row=160, lo=lo, hi=hi) == pytest.approx(120.0, abs=0.3)


def test_the_subject_is_sharpest_where_the_truth_says():
    sim, clock = body(noise=2.0, contrast=1.0)
    assert sim.truth.subject == pytest.approx(300.0)
    roi = (0.3, 0.3, 0.4, 0.4)
    scores = {x: focus_measure(grey(sim.render(float(x)), 480), roi) for x in range(270, 331, 6)}
    assert max(scores, key=scores.get) == 300
    shelf = {x: focus_measure(grey(sim.render(float(x)), 480), (0.06, 0.07, 0.12, 0.15))
             for x in range(370, 431, 6)}
    assert abs(max(shelf, key=shelf.get) - 400) <= 6


def test_breathing_scales_the_picture_about_its_centre():
    sim, clock = body(breathing=0.1)
    for x, scale in ((500.0, 1.0), (250.0, 1.05), (0.0, 1.1)):
        picture = sim.view.picture(x, clock.now())
        subject, background = levels(picture)
        lo, hi = sorted((subject, background))
        assert edge(picture, row=160, lo=lo, hi=hi) == pytest.approx(240 - 120 * scale, abs=0.3)
        assert edge(picture, col=240, lo=lo, hi=hi) == pytest.approx(160 - 80 * scale, abs=0.3)


def test_a_profile_without_optics_draws_its_legacy_plane():
    legacy = load_profile(LEGACY)
    assert legacy.optics is None and legacy.layers == ()
    sim = SimBody(legacy, VirtualClock())
    assert sim.view.picture(250.0, 0.0) is sim.view.picture(250.0, 0.0)   # cached, as always


# ------------------------------------------------------------------ actions


def test_subject_moves_in_depth_at_once_or_over_a_ramp():
    sim, clock = body()
    sim.set_subject(200.0)
    assert sim.truth.subject == pytest.approx(200.0)
    # nearer: 1 / (2.5 (1 - 200/500)) = 0.667 m, so 1.5 times as large
    picture = sim.view.picture(200.0, clock.now())
    subject, background = levels(picture)
    lo, hi = sorted((subject, background))
    assert edge(picture, row=160, lo=lo, hi=hi) == pytest.approx(240 - 120 * 1.5, abs=0.3)
    sim.set_subject(300.0, over=4.0)
    clock.sleep(1.0)
    assert sim.truth.subject == pytest.approx(225.0)
    clock.sleep(3.0)
    assert sim.truth.subject == pytest.approx(300.0)


def test_pan_shifts_the_picture():
    sim, clock = body(contrast=1.0)
    before = sim.view.picture(300.0, clock.now()).copy()
    sim.pan(40.0)
    after = sim.view.picture(300.0, clock.now())
    assert np.allclose(after[:, :-40], before[:, 40:], atol=0.01)
    assert not np.allclose(after, before, atol=5)
    sim.pan(-40.0, over=2.0)                  # back, over two seconds
    clock.sleep(1.0)
    half = sim.view.picture(300.0, clock.now())
    assert np.allclose(half[:, :-20], before[:, 20:], atol=0.01)
    clock.sleep(1.0)
    assert np.allclose(sim.view.picture(300.0, clock.now()), before, atol=0.01)


def test_dolly_scales_each_layer_by_its_own_ratio_and_moves_the_subject():
    sim, clock = body()
    start = sim.view.picture(300.0, clock.now()).copy()
    sim.dolly(1.25)
    # 0.2 m nearer: the subject 1 m -> 0.8 m (x 1.25), the shelf 2 m -> 1.8 m (x 1.111)
    assert sim.truth.subject == pytest.approx(500 - 1.25 * (500 - 300))
    picture = sim.view.picture(sim.truth.subject, clock.now())
    subject, background = levels(picture)
    lo, hi = sorted((subject, background))
    assert edge(picture, row=160, lo=lo, hi=hi) == pytest.approx(240 - 120 * 1.25, abs=0.3)
    for pic, scale in ((start, 1.0), (picture, 2.0 / 1.8)):
        line = pic[40, 50:115]            # across the shelf's right edge (at 96 before)
        shelf, bg = float(pic[40, 50]), float(pic[40, 114])
        assert crossing(line, (shelf + bg) / 2) + 50 == pytest.approx(240 - (240 - 96) * scale,
                                                                      abs=0.3)


def test_dolly_over_a_ramp_changes_the_scene_during_a_pull():
    sim, clock = body()
    sim.dolly(1.25, over=4.0)
    clock.sleep(2.0)                  # half way: 0.1 m nearer, the subject at 0.9 m
    assert sim.truth.subject == pytest.approx(500 * (1 - (1 / 0.9) / 2.5))
    clock.sleep(2.0)
    assert sim.truth.subject == pytest.approx(250.0)


def test_dolly_on_a_legacy_profile_scales_the_plane_and_moves_its_sharp_position():
    legacy = load_profile(LEGACY)
    clock = VirtualClock()
    sim = SimBody(dataclasses.replace(legacy, noise=0.0), clock)
    before = sim.view.picture(250.0, 0.0).copy()
    sim.dolly(1.2)
    assert sim.truth.subject == pytest.approx(407 - 1.2 * (407 - 250))
    after = sim.view.picture(sim.truth.subject, clock.now())
    # the middle 1/1.2 of the old picture now fills the frame
    h, w = before.shape
    small = after[::6, ::6]
    ys, xs = np.mgrid[0:h:6, 0:w:6]
    src_y = np.clip(((ys + 0.5 - h / 2) / 1.2 + h / 2 - 0.5).round().astype(int), 0, h - 1)
    src_x = np.clip(((xs + 0.5 - w / 2) / 1.2 + w / 2 - 0.5).round().astype(int), 0, w - 1)
    assert np.corrcoef(small.ravel(), before[src_y, src_x].ravel())[0, 1] > 0.9


def test_walk_someone_crosses_the_frame_nearer_than_the_subject():
    sim, clock = body(contrast=1.0)
    x = sim.truth.subject
    still = sim.view.picture(x, clock.now()).copy()
    sim.walk(4.0)
    centres = []
    for _ in range(3):
        clock.sleep(1.0)
        diff = np.abs(sim.view.picture(x, clock.now()) - still).mean(axis=0)
        covered = np.flatnonzero(diff > 5.0)
        assert len(covered) > 0.1 * 480               # a band about a sixth of the frame
        centres.append(covered.mean())
    assert centres[0] < 200 < centres[1] + 60 and centres[1] < 280 < centres[2]
    clock.sleep(1.5)
    assert np.allclose(sim.view.picture(x, clock.now()), still)   # gone
    assert sim.truth.subject == x


def test_the_walker_is_blurred_by_its_own_distance():
    sim, clock = body()
    sim.walk(2.0)
    clock.sleep(1.0)                  # half way: the band is in the middle
    x = 300.0                         # sharp on the subject (1 m); the walker is at 0.6 m
    picture = sim.view.picture(x, clock.now())
    row = picture[300, :].astype(np.float64)   # below the subject: walker over background
    background = float(picture[300, 5])
    walker = float(picture[300, 240])
    frac = (row[:240] - background) / (walker - background)
    width = crossing(frac, 0.98) - crossing(frac, 0.02)
    diameter = PX_PER_DIOPTRE * (1 / 0.6 - 1.0)
    assert width == pytest.approx(disc_edge_width(diameter), abs=0.6)


def test_light_changes_the_exposure():
    sim, clock = body()
    def mean():
        return float(grey(sim.render(300.0), 480).mean())
    bright = mean()
    sim.light(0.5)
    assert mean() == pytest.approx(0.5 * bright, rel=0.01)
    sim.light(4.0, over=2.0)          # to twice the start, geometrically
    clock.sleep(1.0)                  # half way: 0.5 x 4 ** 0.5
    assert mean() == pytest.approx(bright, rel=0.01)
    clock.sleep(1.0)
    assert mean() == pytest.approx(2 * bright, rel=0.02)


# ------------------------------------------------------------------ scripts


def test_scene_actions_parse_with_their_ramps():
    actions = parse_script("+0 subject 250 3\n+1 pan -40\n+0 dolly 1.3 4\n+0 walk 2.5\n"
                           "+0 light 0.7 1\n", "s.rig")
    assert [(a.kind, a.value, a.ramp, a.line) for a in actions] == [
        ("subject", 250.0, 3.0, 1), ("pan", -40.0, 0.0, 2), ("dolly", 1.3, 4.0, 3),
        ("walk", 2.5, 0.0, 4), ("light", 0.7, 1.0, 5)]
    assert all(a.source == "s.rig" for a in actions)


@pytest.mark.parametrize("text,message", [
    ("+0 dolly 1.5\n+1 subject 600\n",
     "s.rig:2: subject 600: at or beyond the far stop (500) after a dolly"),
    ("+0 subject 501\n", "s.rig:1: subject 501: beyond the far stop (500), farther than infinity"),
    ("+0 subject 500\n+2 dolly 1.2 3\n",
     "s.rig:2: dolly 1.2: the subject is sharp at or beyond the far stop (at infinity): a dolly "
     "cannot change its size"),
])
def test_a_scene_the_profile_cannot_do_is_refused_with_its_line(text, message):
    sim, _ = body()
    with pytest.raises(InputError) as err:
        check_scene(sim.profile, parse_script(text, "s.rig"))
    assert str(err.value) == message


def test_a_dolly_through_a_nearer_layer_is_refused():
    text = SCENE.format(breathing=0.0, noise=0.0, contrast=0.0).replace(
        "distance_m = 2.0", "distance_m = 0.5")            # the shelf comes nearer
    profile = parse_profile(text, "<scene>")
    check_scene(profile, parse_script("+0 dolly 1.9\n", "s.rig"))    # 0.47 m in: fine
    with pytest.raises(InputError) as err:
        check_scene(profile, parse_script("+0 dolly 1.9\n+0 dolly 1.2\n", "s.rig"))
    assert str(err.value) == "s.rig:2: dolly 1.2: the camera would pass layer 1"


def test_rig_simulate_plays_the_scene_and_reports_the_moved_subject(tmp_path):
    """A session on the legacy lens (its plane, sharp at 250, is where this dolly's
    figure comes from): AF after a dolly and a pan finds the moved subject."""
    from rig.cli import main
    from rig.sim import known_calibration
    from rig.store import Store
    Store(tmp_path / "state").save_calibration(known_calibration(load_profile(LEGACY)))
    script = tmp_path / "scene.rig"
    script.write_text("+0 wait idle\n+0.5 press info\n+0.5 press info\n"
                      "+0.5 dolly 1.2 2\n+0 pan 30 2\n+0 walk 1.5\n+0 light 0.8 1\n"
                      "+3 press af\n+0 wait idle\n")
    report = tmp_path / "report.json"
    assert main(["simulate", "--camera", f"sim:{LEGACY}", "--script", str(script),
                 "--report", str(report), "--state-dir", str(tmp_path / "state")]) == 0
    af, = json.loads(report.read_text())["autofocus"]
    assert af["subject"] == pytest.approx(407 - 1.2 * (407 - 250))
    assert af["ok"] and abs(af["true_step"] - af["subject"]) <= 3


def _sharpness_with_breathing(breathing: float, xs) -> np.ndarray:
    p = load_profile(DEFAULT_PROFILE.parent / "canon-ef50.toml")
    p = dataclasses.replace(p, noise=0.0, flicker=0.0,
                            optics=dataclasses.replace(p.optics, breathing=breathing))
    view = SimBody(p, VirtualClock()).view
    x, y, w, h = p.layers[-1].box
    roi = (x + 0.15 * w, y + 0.15 * h, 0.7 * w, 0.7 * h)      # on the subject
    return np.array([focus_measure(view.picture(float(v), 0.0), roi) for v in xs])


def test_breathing_scales_the_picture_without_blurring_it():
    """A picture scaled by 1.001 is as sharp as the one not scaled, on both sides of focus.

    Bilinear resampling blurred it by a share that drifts with the sub-pixel
    phase: here 4 % less sharp at focus; on a wide lens that breathed 0.1 %,
    5 % on one side of focus and 1 % on the other, a slope that moved
    autofocus by 7 steps (rig/simview.py's RESAMPLE)."""
    xs = [377, 387, 397, 407, 417]          # the subject is sharp at 397
    still = _sharpness_with_breathing(0.0, xs)
    assert np.allclose(_sharpness_with_breathing(0.001, xs), still, rtol=0.005)
    # 8 %: the picture is larger, not blurred (within a few per cent at focus)
    assert _sharpness_with_breathing(0.08, [397])[0] == pytest.approx(still[2], rel=0.04)
