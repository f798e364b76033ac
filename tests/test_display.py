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
    assert lit(shown, (0, 13, 60, 24)) > lit(plain, (0, 13, 60, 24)) + 100


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
    state = replace(BASE, index=1, position=300)
    eased = replace(state, points=(Point(50), Point(300, 2.0, "ease")))
    assert ImageChops.difference(render(View(state, 0.0)), render(View(eased, 0.0))).getbbox()
