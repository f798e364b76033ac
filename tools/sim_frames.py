"""Draw docs/img/simulator.png: the realistic EF 24mm's live view at a few lens positions.

The simulated Canon (``rig/data/profiles/canon-ef24-real.toml``: a detailed
subject at 0.6 m in front of a background at 6 m) as rig receives it, at
960 x 640, shown a third of its size: at the near stop (both layers blurred), where
the subject is sharp, where the background is sharp, and at the far stop.
The second row is the scene changing in front of a lens left where the
subject was sharp: a dolly in, a pan, someone walking across, the light
going down.  Each caption gives the lens position and each layer's blur
disc in pixels.

    .venv/bin/python tools/sim_frames.py [OUT.png]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from rig.clock import VirtualClock
from rig.sim import PROFILES, SimBody, load_profile

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "simulator.png"
PROFILE = PROFILES / "canon-ef24-real.toml"
SCALE = 1 / 3
PAD = 12
CAPTION_H = 44
FONT = ImageFont.load_default(size=14)
SMALL = ImageFont.load_default(size=11)


def discs(body: SimBody, x: float) -> str:
    p, scene = body.profile, body.scene
    assert p.optics is not None
    focus = p.optics.dioptres(x, float(p.steps))
    k = p.optics.disc_px_per_dioptre(p.width)
    depths = scene.layer_dioptres(body.clock.now())
    return ", ".join(f"{name} {k * abs(w - focus):.1f} px"
                     for name, w in zip(("background", "subject"), (depths[0], depths[-1])))


def frame(body: SimBody, x: float) -> Image.Image:
    img = Image.open(io.BytesIO(body.render(x))).convert("L")
    return img.resize((round(img.width * SCALE), round(img.height * SCALE)), Image.BOX)


def tiles() -> list[list[tuple[Image.Image, str, str]]]:
    profile = load_profile(PROFILE)
    body = SimBody(profile, VirtualClock())
    sharp = body.truth.subject
    background = profile.optics.sharp_at(1 / profile.layers[0].distance_m, profile.steps)
    first = []
    for x, title in ((0.0, "near stop"), (sharp, "subject sharp"),
                     (background, "background sharp"), (float(profile.steps), "far stop")):
        first.append((frame(body, x), f"{title}: position {x:.0f}", discs(body, x)))
    second = []
    clock = body.clock
    x = sharp
    for title, act in (("dolly 1.3 (over 2 s)", lambda: body.dolly(1.3, 2.0)),
                       ("then pan 120 px", lambda: body.pan(120.0)),
                       ("then someone walks by", lambda: body.walk(2.0)),
                       ("then light 0.5", lambda: body.light(0.5))):
        act()
        clock.sleep(1.0 if "walk" in title else 2.0)
        second.append((frame(body, x), f"{title}, lens at {x:.0f}",
                       f"subject now sharp at {body.truth.subject:.0f}; " + discs(body, x)))
    return [first, second]


def main(out: Path = OUT) -> None:
    rows = tiles()
    w, h = rows[0][0][0].size
    columns = max(len(r) for r in rows)
    sheet = Image.new("L", (PAD + columns * (w + PAD), PAD + len(rows) * (h + CAPTION_H + PAD)),
                      255)
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        for c, (img, title, detail) in enumerate(row):
            x0, y0 = PAD + c * (w + PAD), PAD + r * (h + CAPTION_H + PAD)
            sheet.paste(img, (x0, y0))
            draw.text((x0, y0 + h + 4), title, font=FONT, fill=0)
            draw.text((x0, y0 + h + 23), detail, font=SMALL, fill=70)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"{out}: {sheet.width} x {sheet.height}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
