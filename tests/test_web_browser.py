"""End to end: ``rig run`` on the simulator, its page in headless Chromium.

Debian's ``chromium`` (``sudo apt-get install chromium``) driven by
Playwright (a test extra, installed by ``make test``): the browser Playwright
downloads itself is not used, so nothing but apt and PyPI is needed.  Without
``chromium`` on the PATH the test is skipped and says so.

The rig runs as ``rig run`` does, in real time, on a small fast simulated
lens with a known calibration (so it homes instead of calibrating), GPIO on
gpiozero's mock pins and no OLED.  Every wait is on a condition (a log
line, something on the page, a file's content), with a generous limit.

``RIG_WEB_SCREENSHOT=PATH`` also saves the page as a PNG there
(``make images`` writes ``docs/img/web.png``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rig.calibration import Calibration, DriveCal
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


@pytest.fixture
def rig_run(tmp_path):
    """``rig run`` with the web page on a free port; yields (url, state dir)."""
    state = tmp_path / "state"
    Store(state).save_calibration(Calibration(
        "Web test lens", 120, (DriveCal(1, 1.0, 350.0), DriveCal(2, 3.0, 700.0),
                               DriveCal(3, 12.0, 1400.0)),
        camera="Canon EOS R (simulated)", latency_ms=2.0))
    profile = tmp_path / "lens.toml"
    profile.write_text(PROFILE)
    config = tmp_path / "rig.toml"
    config.write_text(f'[state]\ndir = "{state}"\n[display]\ndriver = "none"\n'
                      '[web]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n')
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "NOTIFY_SOCKET": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "run", "--camera", f"sim:{profile}",
         "--config", str(config)], stderr=subprocess.PIPE, text=True, env=env)
    log: queue.Queue = queue.Queue()
    threading.Thread(target=lines_of, args=(proc.stderr, log), daemon=True).start()
    seen = []
    try:
        while True:
            line = log.get(timeout=LIMIT_MS / 1000)
            assert line is not None, "rig run ended:\n" + "".join(seen)
            seen.append(line)
            found = re.search(r"web page on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                break
        yield found.group(1) + f"?token={token_for(state)}", state
    finally:
        proc.terminate()
        proc.wait(timeout=LIMIT_MS / 1000)


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


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: sudo apt-get install "
                    "chromium (docs/web.md)")
def test_the_page_drives_the_rig_in_headless_chromium(rig_run, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    url, state = rig_run
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # A phone's screen.
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        page.set_default_timeout(LIMIT_MS)
        expect.set_options(timeout=LIMIT_MS)
        page.goto(url)
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("idle")            # homed: the lens is ready
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
        expect(status).to_contain_text(f"lens {focused}/120")
        page.get_by_test_id("add").click()
        rows = page.get_by_test_id("points").locator("tr")
        expect(rows).to_have_count(1)
        expect(rows.first.get_by_test_id("position")).to_have_text(str(focused))
        # The page shows a point once the core has saved it.
        saved = json.loads((state / "sequence.json").read_text())
        assert [p["position"] for p in saved["points"]] == [focused]
        expect(page.locator("#afplot")).to_be_visible()
        page.wait_for_function("() => document.getElementById('afplot').naturalWidth > 0")
        shot = Path(os.environ.get("RIG_WEB_SCREENSHOT") or tmp_path / "web.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
