"""End to end: ``rig run`` on the simulator, its page in headless Chromium.

Debian's ``chromium`` (``sudo apt-get install chromium``) driven by
Playwright (a test extra, installed by ``make test``): the browser Playwright
downloads itself is not used, so nothing but apt and PyPI is needed.  Without
``chromium`` on the PATH the test is skipped and says so.

The rig runs as ``rig run`` does, in real time, on a small fast simulated
lens with a known calibration (so it homes instead of calibrating), GPIO on
gpiozero's mock pins and no OLED.  Every wait is on a condition (a log
line, something on the page, a file's content), with a generous limit.

What is checked in the browser: live frames, the AF region, AF, a point
added and saved, the estimated distances, the charts drawn in SVG (and
their text size on a phone), the focus-check zoom pixel for pixel, the
token leaving the address bar, the live view coming back after the rig
restarts, and the OLED's QR code opening the page.

``RIG_WEB_SCREENSHOT=PATH`` also saves the page as a PNG there
(``make images`` writes ``docs/img/web.png``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from rig.calibration import Calibration, DriveCal
from rig.distance import distance_m, format_distance
from rig.store import Store
from rig.web import token_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LIMIT_MS = 30_000

PROFILE = """\
vendor = "canon"
lens = "Web test lens"
model = "Canon EOS R (simulated)"
steps = 120
start = 80
latency_ms = 2
latency_jitter_ms = 0
preview_ms = 20
busy = "queue"
seed = 11
[drive.1]
steps = 1.0
jitter = 0.0
speed = 400.0
[drive.2]
steps = 3.0
jitter = 0.0
speed = 800.0
[drive.3]
steps = 12.0
jitter = 0.0
speed = 1600.0
[scene]
subject = 70
blur_per_step = 0.12
noise = 3.0
"""


def lines_of(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MIN_FOCUS_M = 0.3
# A sharpness curve for the calibration chart: a peak at step 70 (the subject).
FOCUS_CURVE = [round(100.0 / (1 + ((x - 70) / 12) ** 2), 3) for x in range(121)]


class Rig:
    """``rig run`` as a subprocess, on one port, that can be stopped and started again
    (as ``systemctl restart rig`` does)."""

    def __init__(self, tmp_path):
        self.state = tmp_path / "state"
        Store(self.state).save_calibration(Calibration(
            "Web test lens", 120, (DriveCal(1, 1.0, 350.0), DriveCal(2, 3.0, 700.0),
                                   DriveCal(3, 12.0, 1400.0)),
            camera="Canon EOS R (simulated)", latency_ms=2.0,
            extra={"min_focus_m": MIN_FOCUS_M, "focus_curve": FOCUS_CURVE,
                   "subject_step": 70}))
        self.profile = tmp_path / "lens.toml"
        self.profile.write_text(PROFILE)
        self.port = free_port()
        self.config = tmp_path / "rig.toml"
        self.config.write_text(f'[state]\ndir = "{self.state}"\n[display]\ndriver = "none"\n'
                               f'[web]\nenabled = true\nhost = "127.0.0.1"\n'
                               f'port = {self.port}\n')
        self.proc = None
        self.seen: list[str] = []

    def start(self) -> str:
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "NOTIFY_SOCKET": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "run", "--camera", f"sim:{self.profile}",
             "--config", str(self.config)], stderr=subprocess.PIPE, text=True, env=env)
        log: queue.Queue = queue.Queue()
        threading.Thread(target=lines_of, args=(self.proc.stderr, log), daemon=True).start()
        while True:
            line = log.get(timeout=LIMIT_MS / 1000)
            assert line is not None, "rig run ended:\n" + "".join(self.seen)
            self.seen.append(line)
            found = re.search(r"web page on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                self.url = found.group(1)
                return self.url + f"?token={token_for(self.state)}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=LIMIT_MS / 1000)


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.stop()


FRAMES_CHANGE = """() => {
  const img = document.getElementById("live");
  if (!img.complete || !img.naturalWidth) return false;
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 31) h = (h * 33 + d[i]) | 0;
  window.seenFrames = window.seenFrames || new Set();
  window.seenFrames.add(h);
  return window.seenFrames.size >= 3;
}"""

# The zoom canvas against the live picture, in one go (one frame): the pixel
# the zoom shows at each of a few points of its source rectangle must be the
# live frame's pixel there.
ZOOM_MATCHES = """() => {
  const img = document.getElementById("live"), zoom = document.getElementById("zoom");
  window.rigDrawZoom();
  const [sx, sy, sw, sh] = zoom.dataset.src.split(",").map(Number);
  const [dx, dy] = zoom.dataset.dest.split(",").map(Number);
  const scale = Number(zoom.dataset.scale) * (window.devicePixelRatio || 1);
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const z = zoom.getContext("2d");
  const out = [];
  for (const [fx, fy] of [[0.25, 0.25], [0.5, 0.5], [0.75, 0.6]]) {
    const x = Math.floor(sx + fx * sw), y = Math.floor(sy + fy * sh);
    const a = g.getImageData(x, y, 1, 1).data;
    const b = z.getImageData(Math.floor(dx + (x - sx + 0.5) * scale),
                             Math.floor(dy + (y - sy + 0.5) * scale), 1, 1).data;
    out.push([a[0], a[1], a[2], b[0], b[1], b[2]]);
  }
  return out;
}"""


def _text_heights(page, selector):
    return page.eval_on_selector_all(
        selector + " text", "els => els.map(e => e.getBoundingClientRect().height)")


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: sudo apt-get install "
                    "chromium (docs/web.md)")
def test_the_page_drives_the_rig_in_headless_chromium(rig, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    url = rig.start()
    token = token_for(rig.state)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # A phone's screen.
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        page.set_default_timeout(LIMIT_MS)
        expect.set_options(timeout=LIMIT_MS)
        page.goto(url)
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("idle")            # homed: the lens is ready
        # The token went into a cookie and out of the address bar and the history.
        assert "token" not in page.url and token not in page.url
        assert token not in page.evaluate("location.href")
        # Live frames change (sensor noise alone makes every frame new).
        page.wait_for_function(FRAMES_CHANGE, polling="raf")
        page.click("[data-mode=edit]")
        expect(status).to_contain_text("edit · idle")
        # Tap the picture: the AF region is centred there.
        live = page.get_by_test_id("live")
        box = live.bounding_box()
        live.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
        region = page.get_by_test_id("region")
        expect(region).to_have_attribute("data-region", re.compile(r"^[\d.]+,"))
        x, y, w, h = (float(v) for v in region.get_attribute("data-region").split(","))
        assert (x, y, w, h) == pytest.approx((0.15, 0.4, 0.2, 0.2), abs=0.01)
        page.get_by_test_id("af").click()
        afinfo = page.get_by_test_id("afinfo")
        expect(afinfo).to_contain_text("focused at")
        focused = int(re.search(r"focused at (\d+)", afinfo.inner_text()).group(1))
        assert abs(focused - 70) <= 3                      # the subject's step
        # The lens and its estimated distance, from the lens's closest distance.
        far = format_distance(distance_m(focused, 120, MIN_FOCUS_M))
        expect(status).to_contain_text(f"lens {focused}/120 {far}")
        page.get_by_test_id("add").click()
        rows = page.get_by_test_id("points").locator("tr")
        expect(rows).to_have_count(1)
        expect(rows.first.get_by_test_id("position")).to_have_text(str(focused))
        expect(rows.first.get_by_test_id("distance")).to_have_text(far)
        # The page shows a point once the core has saved it.
        saved = json.loads((rig.state / "sequence.json").read_text())
        assert [p["position"] for p in saved["points"]] == [focused]

        # The charts, drawn by the page in SVG from the JSON: every frame of the AF
        # and every step of the calibration's sweep, with text a phone can read.
        af_chart = page.get_by_test_id("afchart")
        expect(af_chart.locator("svg polyline")).to_have_count(1)
        points = af_chart.locator("svg polyline").get_attribute("points").split()
        assert len(points) == int(af_chart.get_attribute("data-points")) >= 5
        cal_chart = page.get_by_test_id("calchart")
        expect(cal_chart.locator("svg polyline")).to_have_count(1)
        assert len(cal_chart.locator("svg polyline").get_attribute("points").split()) == 121
        for chart in ("#afchart", "#calchart"):
            heights = _text_heights(page, chart)
            assert heights and min(heights) >= 12, (chart, heights)   # CSS px
            width = page.eval_on_selector(chart + " svg", "e => e.getBoundingClientRect().width")
            assert 300 <= width <= 390

        # Focus check: the zoom shows the AF region pixel for pixel, at 100 % then 200 %.
        page.evaluate("window.rigDrawZoom = drawZoom")
        zoom = page.get_by_test_id("zoom")
        page.get_by_test_id("zoombtn").click()
        expect(zoom).to_be_visible()
        expect(zoom).to_have_attribute("data-scale", "1")
        for scale in ("1", "2"):
            if scale == "2":
                page.get_by_test_id("zoombtn").click()
                expect(zoom).to_have_attribute("data-scale", "2")
            sx, sy, sw, sh = map(int, zoom.get_attribute("data-src").split(","))
            frame_w, frame_h = page.evaluate(
                "[document.getElementById('live').naturalWidth, "
                "document.getElementById('live').naturalHeight]")
            css_w = page.evaluate("document.getElementById('zoom').clientWidth")
            assert sw == min(frame_w, css_w // int(scale)) or abs(sw - css_w / int(scale)) <= 1
            # Centred on the AF region where the frame allows.
            centre = (x + w / 2) * frame_w
            assert sx == max(0, min(round(centre - sw / 2), frame_w - sw)) or \
                abs(sx - max(0, min(centre - sw / 2, frame_w - sw))) <= 1
            for pixel in page.evaluate(ZOOM_MATCHES):
                assert pixel[:3] == pixel[3:], pixel
        page.get_by_test_id("zoombtn").click()
        page.get_by_test_id("zoombtn").click()          # 400 %, then off
        expect(zoom).to_be_hidden()

        shot = Path(os.environ.get("RIG_WEB_SCREENSHOT") or tmp_path / "web.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # systemctl restart rig: the page connects again and the live view comes back.
        starts = int(live.get_attribute("data-starts"))
        rig.stop()
        expect(page.locator("#conn")).to_contain_text("disconnected")
        rig.start()
        expect(page.locator("#conn")).to_have_attribute("data-connections", "2")
        expect(live).to_have_attribute("data-starts", re.compile(rf"^(?!{starts}$)\d+$"))
        page.evaluate("window.seenFrames = new Set()")
        page.wait_for_function(FRAMES_CHANGE, polling="raf")
        # A reload without the token works: the cookie carries it.
        page.reload()
        expect(status).to_contain_text("idle")
        browser.close()


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: sudo apt-get install "
                    "chromium (docs/web.md)")
def test_the_qr_code_on_the_oled_opens_the_page(rig, tmp_path):
    """The help page's QR code, read from the OLED's picture, opens the page in the
    browser with the token; the bare address says how to get the token."""
    import zxingcpp
    from playwright.sync_api import expect, sync_playwright
    from rig.config import load_config
    from rig.display import HELP_PAGE_S, View, help_rows, render
    from rig.screens import framed
    from rig.sequencer import WebPage, initial_state, step
    rig.start()
    token = token_for(rig.state)
    config = load_config()
    state = initial_state((), config.ui, config.bindings)
    state, _ = step(state, WebPage(rig.url, token, 0.0))
    pages = -(-len(help_rows(config.bindings)) // 6) + 1
    oled = render(View(replace(state, help_since=0.0), (pages - 1) * HELP_PAGE_S + 0.1))
    codes = zxingcpp.read_barcodes(framed(oled, 4))
    assert len(codes) == 1 and codes[0].text.startswith(rig.url + "?t=")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(LIMIT_MS)
        expect.set_options(timeout=LIMIT_MS)
        bare = page.goto(rig.url)
        assert bare.status == 401
        expect(page.locator("h1")).to_contain_text("needs the rig's token")
        page.goto(codes[0].text)
        expect(page.get_by_test_id("status")).to_contain_text("idle")
        assert "?t=" not in page.url
        browser.close()
