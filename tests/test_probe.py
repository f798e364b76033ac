"""rig probe (issue 15): the pure parts, the two-outstanding rule, what cannot be measured,
the command line.  The round trip is in tests/test_probe_trip.py."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import gphoto2 as gp
import numpy as np
import pytest
from PIL import Image

from rig.calibration import Calibration, DriveCal
from rig.cli import main
from rig.clock import VirtualClock
from rig.lens import FAR, Lens
from rig.probefit import Figure, Missing, calibration_part, latency_part, name_optics
from rig.probeprofile import profile_text
from rig.probereport import report
from rig.probeport import MAX_OUTSTANDING, Port, ProbeSettings
from rig.probetrip import probe_simulated, truth_calibration
from rig.probeview import blur_diameter, layers, noise_and_flicker, scale_between
from rig.sim import DEFAULT_PROFILE, PROFILES, SimBody, parse_profile
from rig.zoo import draw, dump

# ------------------------------------------------------------------ pure parts


def test_calibration_part_reads_what_a_one_mean_calibration_measured_and_no_more():
    cal = Calibration("EF 24mm", 407, (DriveCal(1, 1.0, 20.0, 0.0425, 0.0),
                                       DriveCal(3, 26.0, 80.0, 0.28, 0.7)),
                      camera="5D", latency_ms=30.0, latency_jitter_ms=5.0,
                      extra={"method": "liveview"})
    part = calibration_part(cal)
    assert part["steps"].value == 407
    assert part["drive.3.steps"].value == 26.0
    # the motor's speed: steps over the motion time, not the sustained speed with its margin
    assert part["drive.3.speed"].value == pytest.approx(26.0 / 0.28, abs=1e-3)
    assert part["drive.3.jitter"].value == 0.7
    assert isinstance(part["drive.3.steps_far"], Missing)
    assert isinstance(part["backlash"], Missing)
    assert "drive.1.steps_far" not in part


def test_calibration_part_takes_steps_at_each_stop_and_backlash_when_measured():
    profile = parse_profile(dump(draw(3)))
    part = calibration_part(truth_calibration(profile))
    spec = profile.drive[3]
    assert part["drive.3.steps"].value == pytest.approx(spec.steps, abs=1e-3)
    assert part["drive.3.steps_far"].value == pytest.approx(spec.steps_far, abs=1e-3)
    assert part["drive.3.speed"].value == pytest.approx(spec.speed, rel=1e-3)
    assert part["backlash"].value == pytest.approx(profile.backlash)
    assert part["calibration.busy"].value == profile.busy


def test_calibration_without_motion_times_gives_the_sustained_speed_marked_as_a_bound():
    cal = Calibration("L", 300, (DriveCal(1, 1.0, 20.0),), latency_ms=20.0)
    part = calibration_part(cal)
    assert part["drive.1.speed"].value == 20.0 and part["drive.1.speed"].sure == "lower bound"


@pytest.mark.parametrize("name, focal, aperture", [
    ("Canon EF 24mm f/2.8 IS USM", 24.0, 2.8), ("FE 50mm F1.8", 50.0, 1.8),
    ("GF63mmF2.8 R WR", 63.0, 2.8), ("EF 24-105mm f/4L IS USM", None, 4.0),
    ("EF 100mm f/2.8L Macro IS USM", 100.0, 2.8), ("unknown lens", None, None)])
def test_the_lens_name_gives_focal_length_and_f_number_of_primes_only(name, focal, aperture):
    assert name_optics(name) == (focal, aperture)


def test_latency_is_the_mean_and_spread_of_the_calls():
    part = latency_part([0.030, 0.034, 0.026, 0.030])
    assert part["latency_ms"].value == 30.0
    assert part["latency_jitter_ms"].value == pytest.approx(1000 * np.std([.03, .034, .026, .03],
                                                                           ddof=1), abs=0.05)
    assert isinstance(latency_part([0.03])["latency_ms"], Missing)


def _findings(**over):
    base = {"vendor": Figure("canon"), "lens": Figure("Test 50mm f/2"), "model": Figure("Body"),
            "steps": Figure(500, "steps", "calibration"), "start": Figure(0, "steps", "left"),
            "latency_ms": Figure(25.0, "ms", "calls"), "latency_jitter_ms": Figure(3.0),
            "preview_ms": Figure(100.0), "preview_size": Figure([960, 640]),
            "busy": Figure("queue", how="two requests"), "queue_depth": Figure(2),
            "backlash": Figure(2.5), "scene.noise": Figure(1.5), "scene.flicker": Figure(0.01)}
    for size, (near, far, speed) in {1: (1.0, None, 20.0), 2: (4.0, 4.2, 45.0),
                                     3: (27.0, 29.0, 90.0)}.items():
        base[f"drive.{size}.steps"] = Figure(near)
        base[f"drive.{size}.speed"] = Figure(speed)
        base[f"drive.{size}.jitter"] = Figure(0.2)
        if far:
            base[f"drive.{size}.steps_far"] = Figure(far)
    base.update(over)
    return base


OPTICS = {"optics.focal_mm": Figure(50.0, how="the lens name"),
          "optics.f_number": Figure(2.0, how="the lens name"),
          "optics.min_focus_m": Figure(0.45, how="stated"), "optics.breathing": Figure(0.03),
          "scene.layers": Figure([
              {"position": 480.0, "spread": 2.0, "tiles": 30, "box": None,
               "distance_m": 9.0, "distance_is": "about"},
              {"position": 300.0, "spread": 1.0, "tiles": 10, "box": [0.25, 0.25, 0.5, 0.5],
               "distance_m": 1.2, "distance_is": "about"}])}


def test_a_fully_measured_profile_loads_with_the_measured_numbers_and_comments():
    text = profile_text(_findings(**OPTICS))
    p = parse_profile(text, "<probed>")
    assert (p.steps, p.latency_ms, p.preview_ms, p.busy, p.queue_depth, p.backlash) == \
        (500, 25.0, 100.0, "queue", 2, 2.5)
    assert p.drive[3].steps == 27.0 and p.drive[3].steps_far == 29.0
    assert p.optics.f_number == 2.0 and p.optics.breathing == 0.03
    assert [layer.distance_m for layer in p.layers] == [9.0, 1.2]
    assert p.layers[1].box == (0.25, 0.25, 0.5, 0.5)
    assert "deeper" in text and "NOT MEASURED" not in text


def test_without_optics_the_scene_is_a_marked_stand_in():
    text = profile_text(_findings())
    p = parse_profile(text, "<probed>")
    assert p.optics is not None and "scene, so that this file loads" in _words(text)


def _words(text: str) -> str:
    """The text with comment lines run together (long comments wrap)."""
    return " ".join(line.lstrip("# ").strip() for line in text.splitlines())


def test_the_blur_seen_sets_the_effective_f_number():
    """The simulator blurs (f^2/N)/36 mm * width / 1000 px per dioptre: the probe writes the N
    that gives the blur the picture showed (and a sensor width beyond N's range)."""
    text = profile_text(_findings(**OPTICS, blur_px_per_dioptre=Figure(20.0, sigma=0.5)))
    p = parse_profile(text)
    assert p.optics.disc_px_per_dioptre(960) == pytest.approx(20.0, rel=1e-3)
    assert "effective" in text and "the lens name says f/2" in _words(text)
    text = profile_text(_findings(**OPTICS, blur_px_per_dioptre=Figure(400.0, sigma=5)))
    p = parse_profile(text)
    assert p.optics.f_number == 0.7 and p.optics.sensor_width_mm < 36
    assert p.optics.disc_px_per_dioptre(960) == pytest.approx(400.0, rel=1e-3)


def test_keys_not_measured_are_comments_and_required_ones_marked_stand_ins():
    why = "the lens did not move: lens switch on MF?"
    text = profile_text(_findings(**{"steps": Missing(why), "busy": Missing("no picture"),
                                     "backlash": Missing("not measured here"),
                                     "drive.3.steps_far": Missing("one mean")}))
    p = parse_profile(text, "<probed>")            # it still loads
    assert p.busy == "drop" and p.queue_depth is None and p.backlash == 0.0
    assert f"NOT MEASURED ({why})" in _words(text)
    assert "# busy: not measured: no picture" in text
    assert "# backlash: not measured: not measured here" in text
    assert "Not measured" in text.splitlines()[0]
    assert not any(line.startswith("busy =") or line.startswith("backlash =")
                   for line in text.splitlines())


# ------------------------------------------------------------------ pictures


def _jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(
        buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _texture(seed: int = 0, h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 210, (h // 8, w // 8))
    return np.kron(small, np.ones((8, 8)))


def test_noise_and_flicker_are_recovered_from_frames_at_rest():
    rng = np.random.default_rng(1)
    base = _texture()
    frames = [_jpeg(base * (1 + 0.02 * rng.standard_normal()) + 3.0 * rng.standard_normal(
        base.shape)) for _ in range(16)]
    noise, flicker, shown, pairs = noise_and_flicker(frames)
    assert noise == pytest.approx(3.0, rel=0.15)
    assert shown < noise                      # the JPEG smooths some of it away
    assert flicker == pytest.approx(0.02, rel=0.5) and pairs == 15


def test_scale_between_two_pictures_of_the_same_scene():
    from rig.probeview import _zoom
    base = _texture(2)
    larger = _zoom(base, 1.05)
    found = scale_between(_jpeg(larger), _jpeg(base))
    assert found is not None and found.value == pytest.approx(1.05, abs=0.004)
    assert scale_between(_jpeg(np.full((240, 320), 128.0)), _jpeg(base)) is None


def test_blur_diameter_finds_the_disc():
    from rig.probeview import _blur
    base = _texture(3, 128, 128)
    d, misfit = blur_diameter(base, _blur(base, 6.0), 40)
    assert d == pytest.approx(6.0, abs=0.6) and misfit < 0.05


def test_layers_group_tiles_by_where_they_peak_background_first_subject_last():
    xs = np.arange(0, 400, 10.0)
    curves = np.zeros((len(xs), 6, 8))
    for r in range(6):
        for c in range(8):
            centre = 300.0 if not (2 <= r <= 3 and 3 <= c <= 5) else 120.0
            curves[:, r, c] = 1 + 20 * np.exp(-0.5 * ((xs - centre) / 15) ** 2)
    planes = layers(xs, curves, gap=30)
    assert [round(p.position) for p in planes] == [300, 120]
    assert planes[0].box is None
    assert planes[1].box == pytest.approx((3 / 8, 2 / 6, 3 / 8, 2 / 6))


# ------------------------------------------------------------------ two outstanding

# The legacy EF 24mm made to queue and hang at three requests (the realistic
# default queues four): the port's rule is tested, not the lens.
HANGS_AT_3 = (PROFILES / "canon-ef24.toml").read_text().replace(
    'busy = "drop"', 'busy = "queue"\nqueue_depth = 2')
assert "queue_depth = 2" in HANGS_AT_3


class Counting(SimBody):
    """A body that records how many requests were outstanding when each arrived (truth)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seen = []

    def move_relative(self, spec, direction):
        self.seen.append(self.outstanding(self.clock.now()) + 1)
        return super().move_relative(spec, direction)


def test_the_port_waits_before_a_third_request_on_a_camera_that_hangs_at_three():
    """Requests sent as fast as the port allows: never a third outstanding, no hang."""
    clock = VirtualClock()
    body = Counting(parse_profile(HANGS_AT_3), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    port = Port(lens, ProbeSettings())
    for _ in range(30):
        port.send(3, FAR)
    assert body.truth.overflows == 0 and not body.hung
    assert max(body.seen) == MAX_OUTSTANDING == port.most


def test_a_port_whose_bound_is_too_short_would_hang_it():
    """The same with the port's bound forced below the motion time: the camera hangs.
    (So the test above can fail: the bound is what keeps the count.)"""
    clock = VirtualClock()
    body = Counting(parse_profile(HANGS_AT_3), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    port = Port(lens, ProbeSettings())
    port.bound[3] = 0.01
    with pytest.raises(gp.GPhoto2Error):
        for _ in range(30):
            port.send(3, FAR)
    assert body.truth.overflows == 1


def test_the_probe_never_has_more_than_two_outstanding_and_sees_the_queue():
    """The whole of rig probe, rig's calibration included, on a camera whose queue hangs
    at 3: the body counts every drive request it receives (the probe's and the
    calibration's), and none arrives with two already outstanding."""
    profile = parse_profile(HANGS_AT_3)
    clock = VirtualClock()
    body = Counting(profile, clock)
    from rig.probe import probe
    result = probe(Lens(body.session(), clock))
    f = result.findings
    assert result.calibration is not None, result.calibration_error
    assert len(body.seen) > 100 and max(body.seen) == 2
    assert body.truth.overflows == 0 and not body.hung
    assert f["most_outstanding"].value <= 2
    assert f["busy"].value == "queue" and f["queue_depth"].value == 2
    text = profile_text(f)
    assert parse_profile(text).queue_depth == 2
    assert "probed no deeper" in _words(text)


# ------------------------------------------------------------------ what cannot be measured


def _probe_body(text: str, **body) -> tuple:
    profile = parse_profile(text)
    return probe_simulated(profile, calibrate=None)


def test_lens_on_mf_every_lens_figure_missing_with_the_reason_and_the_profile_loads(
        tmp_path, capsys):
    """rig probe itself on a camera whose lens switch is on MF: the report names each
    figure it could not measure and why, and the profile it wrote loads."""
    camera = tmp_path / "mf.toml"
    camera.write_text(DEFAULT_PROFILE.read_text() + "\n[body]\naf = false\n")
    out, report = tmp_path / "p.toml", tmp_path / "r.json"
    assert main(["probe", "--camera", f"sim:{camera}", "--out", str(out),
                 "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "not measured: " in printed and "backlash" in printed.split("not measured: ")[-1]
    missing = json.loads(report.read_text())["missing"]
    assert "AF" in missing["steps"] and "AF" in missing["backlash"]
    assert "MF" in missing["busy"]
    figures = json.loads(report.read_text())["figures"]
    assert {"latency_ms", "preview_ms", "preview_size"} <= set(figures)
    written = out.read_text()
    p = parse_profile(written, str(out))
    assert p.steps == 407 and "NOT MEASURED" in written      # a marked stand-in


def test_live_view_refused_frames_missing_and_the_profile_loads():
    profile = parse_profile(DEFAULT_PROFILE.read_text())
    clock = VirtualClock()
    body = SimBody(profile, clock)
    camera = body.session()

    def refuse(*_a, **_k):
        raise gp.GPhoto2Error(gp.GP_ERROR_NOT_SUPPORTED)
    camera.capture_preview = refuse
    from rig.probe import probe
    result = probe(Lens(camera, clock))
    f = result.findings
    for key in ("preview_ms", "preview_size", "scene.noise"):
        assert isinstance(f[key], Missing) and "refused" in f[key].why
    assert isinstance(f["latency_ms"], Figure)
    assert isinstance(f["busy"], Missing) and "no live view" in f["busy"].why
    missing = report(f, calibration=result.calibration, error=result.calibration_error)["missing"]
    assert "refused" in missing["preview_ms"] and "no live view" in missing["busy"]
    written = profile_text(f)
    assert parse_profile(written).vendor == "canon"
    assert "preview_size: not measured: the live view was refused" in _words(written)


def test_blank_scene_optics_and_busy_missing_and_the_profile_loads():
    # The legacy plane, blanked by contrast = 0 (the realistic default's layered
    # scene keeps its detail with it: the probe's findings, not the lens, are tested).
    text = (PROFILES / "canon-ef24.toml").read_text().replace(
        "noise = 2.0", "noise = 2.0\ncontrast = 0.0")
    result, written, _ = probe_simulated(parse_profile(text))
    f = result.findings
    assert f["detail"].value is False
    assert isinstance(f["busy"], Missing) and "no detail" in f["busy"].why
    assert isinstance(f["scene.layers"], Missing)
    assert isinstance(f["steps"], Missing)
    missing = report(f, calibration=result.calibration, error=result.calibration_error)["missing"]
    assert "no detail" in missing["busy"] and missing["steps"] and missing["scene.layers"]
    parse_profile(written)


# ------------------------------------------------------------------ the command line


def test_rig_probe_writes_a_profile_and_a_report(tmp_path, capsys):
    out, report = tmp_path / "p.toml", tmp_path / "r.json"
    assert main(["probe", "--camera", "sim:canon-ef24", "--out", str(out),
                 "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "a request during motion: drop" in printed and f"profile: {out}" in printed
    p = parse_profile(out.read_text())
    assert p.steps == 407 and p.busy == "drop"
    data = json.loads(report.read_text())
    assert data["figures"]["steps"]["value"] == 407
    assert data["figures"]["backlash"]["value"] == 0      # calibration measures it now
    for name in data["plots"].values():
        assert Image.open(tmp_path / name).size[0] == 720
    assert {a["figure"] for a in data["agreement"]} >= {"latency_ms"}
    # never over a file already there
    assert main(["probe", "--camera", "sim:canon-ef24", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


class _CtrlCAtFirstLine(io.StringIO):
    """stderr that is a terminal's user: Ctrl-C (a real SIGINT) once the first
    progress line is out, whatever the machine's load (a subprocess read by
    the test once finished the probe before the signal came, rc 0)."""

    def write(self, text):
        n = super().write(text)
        if text.startswith("probing: ") and not getattr(self, "pressed", False):
            self.pressed = True
            signal.raise_signal(signal.SIGINT)
        return n


def test_ctrl_c_stops_the_probe_and_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "p.toml"
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    err = _CtrlCAtFirstLine()
    monkeypatch.setattr(sys, "stderr", err)
    try:
        rc = main(["probe", "--camera", "sim:canon-ef24", "--out", str(out)])
    finally:
        signal.signal(signal.SIGINT, handler)
    assert err.pressed and rc == 130, err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert err.getvalue().strip().splitlines()[-1] == (
        "rig: probe stopped (Ctrl-C): nothing was written; the lens stays where it stopped")
    assert not out.exists()


def test_bad_arguments_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["probe", "--out", "x.toml", "--subject-distance", "-1"])
    assert exc.value.code == 2
    assert "must be 0.01 to 1000 metres" in capsys.readouterr().err
    assert main(["probe", "--camera", "sim:canon-ef24", "--out", "/no/such/dir/x.toml"]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_rig_probe_on_libgphotos_virtual_camera_says_why_in_one_line(tmp_path):
    """The real libgphoto2's virtual camera has no focus drive: one line, exit 1, no file."""
    folder = tmp_path / "vcamera"
    folder.mkdir()
    Image.new("RGB", (64, 48), (180, 90, 40)).save(folder / "shot.jpg")
    env = dict(os.environ, VCAMERADIR=str(folder), GPIOZERO_PIN_FACTORY="mock")
    out = tmp_path / "p.toml"
    done = subprocess.run([sys.executable, "-m", "rig.cli", "probe", "--camera", "usb",
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("rig: lens: ") and "cannot drive focus over USB" in lines[-1]
    assert "Traceback" not in done.stderr and not out.exists()


def test_a_speed_the_calibration_could_not_time_is_written_as_a_floor():
    """A size whose commands the calibration spaced by its settled steps' wait (it says so
    in bounded_speeds): that wait is longer than the motion, so the profile's speed is a
    lower bound, marked in the profile, the report and the summary."""
    from rig.probereport import summary_lines
    cal = Calibration("L", 500, (DriveCal(1, 1.0, 20.0, 0.05, 0.0),
                                 DriveCal(3, 28.0, 25.0, 1.0, 0.5)),
                      latency_ms=20.0, extra={"method": "liveview",
                                              "bounded_speeds": {"3": "no train passed"}})
    part = calibration_part(cal)
    assert part["drive.3.speed"].sure == "lower bound"
    assert "NOT TIMED (no train passed)" in part["drive.3.speed"].how
    assert part["motion_ms.3"].sure == "upper bound"
    assert part["drive.1.speed"].sure == "measured"
    text = profile_text(_findings(**{k: v for k, v in part.items() if k.startswith("drive.3")}))
    assert "NOT TIMED (no train passed)" in _words(text) and "(lower bound)" in _words(text)
    lines = summary_lines(_findings(**part))
    assert any(line.startswith("  size 3 speed: at least 28") for line in lines)
