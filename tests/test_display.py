"""The OLED renderer, shown through luma's dummy device."""

from dataclasses import replace

import numpy as np
from luma.core.device import dummy
from PIL import ImageChops

from rig.display import DisplayLoop, View, render
from rig.clock import VirtualClock
from rig.planner import Drive, LensModel
from rig.sequencer import Activity, Highlight, Mode, Point, State, Transition

MODEL = LensModel(407, (Drive(1, 1, 0.06), Drive(2, 4, 0.11), Drive(3, 26, 0.3)))
BASE = State(mode=Mode.PLAY, activity=Activity.IDLE, points=(Point(50), Point(300, 2.0)),
             index=0, position=50, model=MODEL)


def lit(img, box):
    return int(np.count_nonzero(np.asarray(img.crop(box))))


def test_shown_on_a_luma_device():
    device = dummy(width=128, height=64, mode="1")
    device.display(render(View(BASE, 0.0)))
    assert device.image.size == (128, 64)
    assert lit(device.image, (0, 0, 40, 11)) > 20       # "[play]"
    assert lit(device.image, (0, 52, 128, 64)) > 100    # the range bar and the lens


def test_modes_render_differently():
    images = [render(View(replace(BASE, mode=m), 0.0)).tobytes() for m in Mode]
    assert len(set(images)) == 3


def test_countdown_runs_during_a_transition():
    tr = Transition("play", 0, 1, 50, 300, t0=10.0, duration=2.0)
    state = replace(BASE, activity=Activity.MOVING, transition=tr)
    a, b = render(View(state, 10.2)), render(View(state, 11.0))
    assert ImageChops.difference(a, b).getbbox() is not None
    # The lens marker moves along the bar.
    assert ImageChops.difference(a.crop((0, 58, 128, 64)), b.crop((0, 58, 128, 64))).getbbox()


def test_highlight_is_inverse_video():
    plain = render(View(BASE, 0.0))
    lit_state = replace(BASE, highlight=Highlight("position", 5.0))
    shown = render(View(lit_state, 0.0))
    assert lit(shown, (0, 39, 60, 52)) > lit(plain, (0, 39, 60, 52)) + 300


def test_busy_screens_and_screen_off():
    for activity in (Activity.CONNECTING, Activity.HOMING, Activity.CALIBRATING):
        img = render(View(replace(BASE, activity=activity, progress=("sweep", 0.5)), 1.0))
        assert lit(img, (0, 0, 128, 12)) > 20
    off = render(View(replace(BASE, screen_on=False), 0.0))
    assert off.getbbox() is None


def test_display_loop_pushes_only_changes():
    clock = VirtualClock()
    device = dummy(width=128, height=64, mode="1")
    state = {"s": BASE}
    loop = DisplayLoop(clock, device, lambda: View(state["s"], clock.now()))
    task = clock.spawn(loop.run, name="display")
    clock.sleep(5.0)
    assert loop.frames == 1                   # idle: nothing new to push
    state["s"] = replace(BASE, mode=Mode.EDIT)
    clock.sleep(1.0)
    assert loop.frames == 2
    loop.stop_flag.set()
    task.join()
    loop.close()
    assert device.persist


def test_a_reported_distance_is_shown():
    a = render(View(BASE, 0.0))
    b = render(View(replace(BASE, distance_m=1.64), 0.0))
    assert ImageChops.difference(a, b).getbbox() is not None


def test_the_easing_is_shown():
    eased = replace(BASE, points=(Point(50), Point(300, 2.0, "ease")))
    for state in (BASE, replace(BASE, mode=Mode.EDIT, index=1, position=300)):
        other = replace(state, points=eased.points)
        assert ImageChops.difference(render(View(state, 0.0)),
                                     render(View(other, 0.0))).getbbox()


def test_the_countdown_refreshes_at_20_hz_and_idle_at_2():
    clock = VirtualClock()
    device = dummy(width=128, height=64, mode="1")
    tr = Transition("play", 0, 1, 50, 300, t0=1.0, duration=3.0)
    state = {"s": BASE}
    loop = DisplayLoop(clock, device, lambda: View(state["s"], clock.now()))
    task = clock.spawn(loop.run, name="display")
    clock.sleep(1.0)
    state["s"] = replace(BASE, activity=Activity.MOVING, transition=tr)
    loop.poke()                             # as the core does when the state changes
    clock.sleep(3.0)
    during = [t for t in loop.pushed if 1.0 < t <= 4.0]
    state["s"] = BASE
    clock.sleep(3.0)
    loop.stop_flag.set()
    task.join()
    assert during[0] <= 1.05                # the pull shows at once (a frame at most)
    assert len(during) >= 3.0 * 19          # a new frame every 50 ms while pulling
    assert max(b - a for a, b in zip(during, during[1:])) <= 0.05 + 1e-9
    assert len([t for t in loop.pushed if t > 4.1]) <= 1   # at rest: only changes


def test_the_help_screen_shows_the_configured_gestures(tmp_path):
    from rig.config import load_config
    from rig.display import help_rows, screen_text
    config = load_config()
    state = replace(BASE, keys=replace(BASE.keys, bindings=config.bindings), help_since=0.0)
    words = " ".join(screen_text(View(state, 0.0)))
    assert words.startswith("HELP any key: close 1/4 thumb store / next")
    mine = tmp_path / "rig.toml"
    mine.write_text('[functions]\nhelp = ["a+centre"]\nease = ["wheel long"]\n')
    rows = help_rows(load_config(mine).bindings)
    assert ("A+centre", "help") in rows and ("A+B", "help") not in rows


def test_error_screens_say_what_and_what_to_do():
    from rig.display import screen_text
    cases = [
        (replace(BASE, activity=Activity.FAULT, fault="camera", message="camera lost: x"),
         "CAMERA LOST check the USB cable"),
        (replace(BASE, activity=Activity.FAULT, fault="lens_mf", message="x"),
         "LENS ON MF? set the lens switch to AF"),
        (replace(BASE, highlight=Highlight("liveview", 9.0, "live view turned on")),
         "LIVE VIEW live view was off: rig turned it on"),
        (replace(BASE, trusted=False), "lens position ?"),
        (replace(BASE, activity=Activity.FAULT, message="the camera refused: -6"),
         "PROBLEM the camera refused: -6"),
    ]
    for state, words in cases:
        assert words in " ".join(screen_text(View(state, 1.0))), words


def test_the_stopped_screen_is_left_on_the_device_even_if_the_screen_was_off():
    device = dummy(width=128, height=64, mode="1")
    device.hide()
    loop = DisplayLoop(VirtualClock(), device, lambda: View(BASE, 0.0))
    loop.close("stopped by systemd")
    assert device.persist
    assert lit(device.image, (0, 0, 128, 16)) > 800        # the STOPPED band


def test_the_font_is_bundled_with_the_package():
    from importlib import resources
    fonts = resources.files("rig") / "data" / "fonts"
    names = {p.name for p in fonts.iterdir()}
    assert {"spleen-6x12.pil", "spleen-6x12.pbm", "LICENSE", "README.md"} <= names
