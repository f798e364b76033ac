"""Frames: what one live-view frame costs, in the simulator and in rig (issue 13).

The simulator draws each frame (render) and encodes it as the camera's JPEG
(encode); rig decodes it (``rig.vision``).  At Canon's 960 x 640 both grow
with the pixels, so this prints, per frame, in milliseconds of this machine:

* simulator, render + encode, for the legacy default profile at 320 x 224
  (the baseline, measured in the same run), the realistic EF 24mm at 960 x
  640 and a few lenses of the zoo:
  - *sweep*: the lens stepping through its range (blur levels cached as
    they come: what calibration and autofocus ask for),
  - *again*: the same positions a second time (all cached),
  - *moving scene*: a dolly and a walker under way (every layer resampled);
* rig, decode: a full decode (then a box filter down to 320 wide) against
  JPEG draft mode, which lets libjpeg decode at 1/2, 1/4 or 1/8 size:
  ``grey(jpeg, 320)`` (autofocus), ``grey(jpeg, 160)`` and ``fingerprint``
  (calibration and the arrival checks, 80 wide).

Each figure is a median over rounds, with its ratio to the 320 x 224
baseline.  The machine is shared: compare ratios, not milliseconds.

Run: ``.venv/bin/python bench/frames.py [--frames 60] [--zoo 4]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.clock import VirtualClock  # noqa: E402
from rig.sim import DEFAULT_PROFILE, PROFILES, Profile, SimBody, load_profile  # noqa: E402

# The legacy EF 24mm (whole steps, no play, steps the same along the range): the lens
# this bench's variants are made of, named since the default became canon-ef24-real.
LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"
from rig.vision import fingerprint, grey  # noqa: E402
from rig.zoo import profile as zoo_profile  # noqa: E402


def per_frame(work: Callable[[int], object], count: int, rounds: int = 3) -> float:
    """Median over rounds of the mean milliseconds one call of ``work(i)`` takes."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(count):
            work(i)
        times.append((time.perf_counter() - start) / count * 1000.0)
    return statistics.median(times)


def positions(profile: Profile, count: int, offset: float = 0.0) -> list[float]:
    return [min(profile.steps, offset + profile.steps * i / count) for i in range(count)]


def simulator(profile: Profile, count: int) -> dict[str, float]:
    """Render + encode per frame: sweep (fresh body each round), again, moving scene."""
    xs = positions(profile, count, 0.37)

    def sweep_round() -> float:
        body = SimBody(profile, VirtualClock())
        start = time.perf_counter()
        for x in xs:
            body.render(x)
        return (time.perf_counter() - start) / count * 1000.0

    sweep = statistics.median(sweep_round() for _ in range(3))
    body = SimBody(profile, VirtualClock())
    for x in xs:
        body.render(x)
    again = per_frame(lambda i: body.render(xs[i]), count)
    clock = VirtualClock()
    moving = SimBody(profile, clock)
    subject = moving.truth.subject
    for x in xs:
        moving.render(x)
    moving.dolly(1.15, over=1000.0)
    moving.walk(1000.0)

    def step(i: int) -> None:
        clock.sleep(0.1)
        moving.render(subject + (i % 7) - 3.0)

    return {"sweep": sweep, "again": again, "moving": per_frame(step, count)}


def decoding(profile: Profile, count: int) -> dict[str, float]:
    body = SimBody(profile, VirtualClock())
    frames = [body.render(x) for x in positions(profile, 12, 0.5)]
    n = len(frames)

    def full(i: int) -> np.ndarray:
        img = Image.open(io.BytesIO(frames[i % n])).convert("L")
        if img.width > 320:
            img = img.resize((320, round(img.height * 320 / img.width)), Image.BOX)
        return np.asarray(img, dtype=np.float32)

    return {"full": per_frame(full, count),
            "grey320": per_frame(lambda i: grey(frames[i % n], 320), count),
            "grey160": per_frame(lambda i: grey(frames[i % n], 160), count),
            "fingerprint": per_frame(lambda i: fingerprint(frames[i % n]), count),
            "kB": statistics.mean(len(f) for f in frames) / 1000.0}


def agree(profile: Profile) -> float:
    """Largest grey-level difference between draft decode and full decode + box filter."""
    body = SimBody(profile, VirtualClock())
    worst = 0.0
    for x in positions(profile, 6, 0.5):
        jpeg = body.render(x)
        img = Image.open(io.BytesIO(jpeg)).convert("L")
        img = img.resize((320, round(img.height * 320 / img.width)), Image.BOX)
        worst = max(worst, float(np.abs(np.asarray(img, dtype=np.float32)
                                        - grey(jpeg, 320)).mean()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per figure")
    parser.add_argument("--zoo", type=int, default=4, help="zoo lenses to add")
    args = parser.parse_args()

    lenses: list[tuple[str, Profile]] = [
        ("legacy EF 24mm (baseline)", load_profile(LEGACY)),
        ("legacy EF 24mm at 960x640",
         dataclasses.replace(load_profile(LEGACY), width=960, height=640)),
        ("realistic EF 24mm f/2.8", load_profile(PROFILES / "canon-ef24-real.toml")),
        ("realistic EF 100mm macro", load_profile(PROFILES / "canon-ef100-macro.toml")),
    ] + [(f"zoo {seed}: {zoo_profile(seed).lens.split(' #')[0][4:]}", zoo_profile(seed))
         for seed in range(args.zoo)]

    print(f"frames: ms per frame on this machine, median of 3 rounds of {args.frames} frames")
    print("\nsimulator, render + encode")
    print(f"{'profile':34} {'size':>9} {'sweep':>14} {'again':>14} {'moving scene':>14}")
    base: dict[str, float] = {}
    for i, (name, profile) in enumerate(lenses):
        sim = simulator(profile, args.frames)
        if i == 0:
            base = sim
        cells = " ".join(f"{sim[k]:6.1f} ({sim[k] / base[k]:4.1f}x)" for k in
                         ("sweep", "again", "moving"))
        print(f"{name:34} {profile.width:4}x{profile.height:<4} {cells}")

    print("\nrig, decode (to 320 wide unless said)")
    print(f"{'profile':34} {'kB':>5} {'full':>14} {'draft 320':>14} {'draft 160':>14} "
          f"{'fingerprint':>14}")
    dbase: dict[str, float] = {}
    for i, (name, profile) in enumerate(lenses[:3]):
        dec = decoding(profile, args.frames)
        if i == 0:
            dbase = dec
        cells = " ".join(f"{dec[k]:6.2f} ({dec[k] / dbase[k]:4.1f}x)" for k in
                         ("full", "grey320", "grey160", "fingerprint"))
        print(f"{name:34} {dec['kB']:5.0f} {cells}")
    real = lenses[2][1]
    dec = decoding(real, args.frames)
    print(f"\nat 960x640, draft mode decodes to 320 wide {dec['full'] / dec['grey320']:.1f}x "
          f"faster than a full decode; the two differ by {agree(real):.2f} grey levels "
          f"(mean absolute)")


if __name__ == "__main__":
    main()
