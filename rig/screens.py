"""Every screen the OLED shows, as sample views: the gallery.

``rig screens --out DIR`` draws each of them to a PNG (scaled up, in a
bezel), the animated ones also to a GIF, and a contact sheet of all of them
(``gallery.png``, shown in the README).  ``tests/test_screens.py`` compares
each with its reference picture in ``tests/golden/``.

The samples are real core states (:class:`~rig.sequencer.State`) with the
default controls, so a change to the renderer or to the default gestures
shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw

from .config import load_config
from .display import (HELP_PAGE_S, HELP_ROWS, HEIGHT, WIDTH, View, font, help_rows, render,
                      stopped_screen)
from .planner import Drive, LensModel
from .sequencer import Activity, Highlight, Mode, Point, State, Transition, initial_state

__all__ = ["Sample", "samples", "framed", "write_gallery"]

# The EF 24mm f/2.8 of the focus_sq module: 407 steps, sizes 1/4/26.
MODEL = LensModel(407, (Drive(1, 1.0, 1 / 23.496), Drive(2, 4.0, 4 / 48.733),
                        Drive(3, 26.0, 26 / 94.321)), latency=0.03)
POINTS = (Point(60), Point(250, 2.4), Point(340, 4.0, "ease"), Point(120))
MIN_FOCUS_M = 0.20   # its closest focusing distance (Canon's spec), for the estimates


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    view: View | None          # None: the stopped screen (drawn without a state)
    frames: tuple[float, ...] = ()   # animated: more moments to draw for the GIF


def _base() -> State:
    config = load_config()
    state = initial_state(POINTS, config.ui, config.bindings)
    return replace(state, activity=Activity.IDLE, model=MODEL, position=60)


def samples() -> list[Sample]:
    """Every screen, in the order of the gallery."""
    play = _base()
    edit = replace(play, mode=Mode.EDIT, index=1, position=250)
    pull = Transition("play", 1, 2, 250, 340, t0=10.0, duration=4.0)
    lost = replace(play, activity=Activity.FAULT, fault="camera",
                   message="camera lost: [-7] I/O problem",
                   progress=("camera not found on USB: check the cable", 0.0))
    hl = play.settings.highlight_time
    out = [
        Sample("play", "Play: the next pull, large", View(play, 0.0)),
        Sample("play-countdown", "Play: a pull, counting down",
               View(replace(play, index=1, position=250, activity=Activity.MOVING,
                            transition=pull), 11.63),
               frames=tuple(10.0 + i * 0.25 for i in range(17))),
        Sample("play-distance", "Play: a known lens, its distances",
               View(play, 0.0, min_focus_m=MIN_FOCUS_M)),
        Sample("pull-distance", "Play: a pull to ~1.2m",
               View(replace(play, index=1, position=250, activity=Activity.MOVING,
                            transition=pull), 11.63, min_focus_m=MIN_FOCUS_M)),
        Sample("play-last", "Play: on the last point", View(replace(play, index=3,
                                                                    position=120), 0.0)),
        Sample("play-mode-changed", "Into play (INFO): the header flashes",
               View(replace(play, highlight=Highlight("mode", 1.0)), 0.5)),
        Sample("play-still", "Scene still (A+right), flashed",
               View(replace(play, scene="still", highlight=Highlight("scene", hl,
                                                                     "scene still")), 0.1)),
        Sample("play-uncertain", "Play: the position spread (±7)",
               View(replace(play, uncertainty=7.3, trusted=False), 0.0)),
        Sample("edit", "Edit: the transition into this point", View(edit, 0.0)),
        Sample("edit-duration", "Edit: UP pressed, the target shown",
               View(replace(edit, points=edit.points[:1] + (Point(250, 2.5),) + edit.points[2:],
                            highlight=Highlight("duration", 1.0, "2.500s")), 0.5)),
        Sample("edit-stored", "Edit: SET stored the lens position",
               View(replace(edit, highlight=Highlight("position", hl)), 0.1)),
        Sample("edit-eased", "Edit: EASE, an eased curve",
               View(replace(edit, index=2, position=340,
                            highlight=Highlight("easing", hl, "ease")), 0.1)),
        Sample("edit-lens-moved", "Edit: the lens is off the point",
               View(replace(edit, position=262), 0.0)),
        Sample("edit-first", "Edit: point 1 has no transition",
               View(replace(edit, index=0, position=60), 0.0)),
        Sample("empty-play", "No sequence yet (play)",
               View(replace(play, points=(), index=0, position=0), 0.0)),
        Sample("empty-edit", "No sequence yet (edit)",
               View(replace(play, mode=Mode.EDIT, points=(), index=0, position=140), 0.0)),
        Sample("inactive", "Inactive", View(replace(play, mode=Mode.INACTIVE), 0.0)),
        Sample("autofocus", "Autofocus", View(replace(edit, activity=Activity.FOCUSING), 0.3)),
        Sample("connecting", "Waiting for the camera",
               View(replace(play, activity=Activity.CONNECTING, progress=("camera", 0.0)),
                    0.0)),
        Sample("usb-held", "The camera is held by another program",
               View(replace(play, activity=Activity.CONNECTING,
                            progress=("USB held by another program: gio mount -s gphoto2",
                                      0.0)), 0.0)),
        Sample("homing", "Homing: finding the near stop",
               View(replace(play, activity=Activity.HOMING, progress=("homing", 0.0)), 0.2),
               frames=tuple(i * 0.05 for i in range(16))),
        Sample("calibrating", "A new lens: calibrating",
               View(replace(play, activity=Activity.CALIBRATING,
                            progress=("size 3 sweep", 0.62)), 0.4),
               frames=tuple(i * 0.25 for i in range(8))),
        Sample("learning", "Into play: learning the scene",
               View(replace(play, activity=Activity.LEARNING, progress=("scene", 0.35)), 0.6)),
        Sample("checking", "Into play: checking the scene",
               View(replace(play, activity=Activity.LEARNING, progress=("checking", 0.0)),
                    0.6)),
        Sample("camera-lost", "Error: camera lost", View(lost, 0.3)),
        Sample("lens-mf", "Error: the lens does not move",
               View(replace(play, activity=Activity.FAULT, fault="lens_mf",
                            message="the lens does not move: set the lens switch to AF"),
                    0.0)),
        Sample("liveview-off", "Error: live view was off",
               View(replace(play, highlight=Highlight("liveview", 3.0, "live view turned on")),
                    0.5)),
        Sample("position-doubt", "Error: position not trusted",
               View(replace(edit, trusted=False), 0.0)),
        Sample("problem", "Error: anything else, with its text",
               View(replace(play, activity=Activity.FAULT,
                            message="Canon EOS 5D Mark III offers no focus drive rig can use"),
                    0.0)),
    ]
    pages = -(-len(help_rows(play.keys.bindings)) // HELP_ROWS)
    for page in range(pages):
        out.append(Sample(f"help-{page + 1}", f"Help (A+B), page {page + 1}",
                          View(replace(play, help_since=0.0), page * HELP_PAGE_S + 0.1)))
    web = replace(play, help_since=0.0, web_page=("http://192.168.1.20:8080/",
                                                  "76su-zyz8-jhxu-fvx7-aejz"))
    out.append(Sample("help-web", "Help, last page: the web page and its token",
                      View(web, pages * HELP_PAGE_S + 0.1)))
    out.append(Sample("stopped", "Stopped: stays after the service ends", None))
    return out


def draw(sample: Sample, now: float | None = None) -> Image.Image:
    """The 128x64 frame of a sample (at another moment for animated ones)."""
    if sample.view is None:
        return stopped_screen()
    view = sample.view if now is None else replace(sample.view, now=now)
    return render(view)


def framed(img: Image.Image, scale: int = 4, caption: str = "") -> Image.Image:
    """The frame scaled up (nearest) in a dark bezel, as the OLED looks, with a caption."""
    pad = 3 * scale
    cap_h = 14 if caption else 0
    w, h = WIDTH * scale + 2 * pad, HEIGHT * scale + 2 * pad + cap_h
    out = Image.new("RGB", (w, h), (28, 28, 30))
    lit = img.convert("L").resize((WIDTH * scale, HEIGHT * scale), Image.NEAREST)
    panel = Image.new("RGB", lit.size, (4, 6, 10))
    panel.paste((236, 244, 255), mask=lit)   # an SSD1306's white
    out.paste(panel, (pad, pad))
    if caption:
        ImageDraw.Draw(out).text((pad, pad + HEIGHT * scale + 3), caption, font=font("text"),
                                 fill=(200, 200, 200))
    return out


def write_gallery(out: Path, scale: int = 4, columns: int = 3) -> list[Path]:
    """PNGs of every screen, GIFs of the animated ones and the contact sheet."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tiles = []
    for sample in samples():
        img = framed(draw(sample), scale)
        path = out / f"{sample.name}.png"
        img.save(path, optimize=True)
        written.append(path)
        tiles.append(framed(draw(sample), 2, sample.title))
        if sample.frames:
            frames = [framed(draw(sample, t), scale).convert("P", palette=Image.ADAPTIVE,
                                                              colors=8)
                      for t in sample.frames]
            gif = out / f"{sample.name}.gif"
            step_ms = round(1000 * (sample.frames[1] - sample.frames[0]))
            frames[0].save(gif, save_all=True, append_images=frames[1:], duration=step_ms,
                           loop=0, optimize=True)
            written.append(gif)
    tw, th = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (tw * columns, th * rows), (28, 28, 30))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * tw, (i // columns) * th))
    path = out / "gallery.png"
    sheet.save(path, optimize=True)
    written.append(path)
    return written
