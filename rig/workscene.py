"""The worker's scene checks: the scene learnt for live-view position checks.

Cameras that report no position (Canon, Olympus, Panasonic, Nikon, Sony
without a scale) can check where the lens landed in the live view, against a
scene learnt from the near stop (:mod:`rig.verify`), but only where the
scene is still.  This part keeps that scene while it holds:

* :meth:`Scenes.recall`: at start, the scene saved for this camera and lens,
  if a look at the stop agrees;
* :meth:`Scenes.arm`: entering play in a still scene, keep the scene if it
  holds, otherwise home and learn it;
* :meth:`Scenes.check`: after a pull, where the lens landed (the camera's
  reading, then the picture only where ``look``) and where it is after
  correcting;
* :meth:`Scenes.forget`: autofocus means the scene is changing.
"""

from __future__ import annotations

import logging

from .inputs import InputError
from .lens import Lens
from .sequencer import Activity, Skip
from .verify import LEARN_MARGIN, SceneMap, check_arrival, holds, learn_scene
from .workparts import Wiring, interrupted, moved, progress

log = logging.getLogger("rig.worker")

__all__ = ["Scenes"]


class Scenes:
    """The scene learnt for live-view checks, while it holds."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self.scene: SceneMap | None = None

    def forget(self) -> None:
        self.scene = None

    def recall(self, lens: Lens) -> None:
        """The scene saved for this camera and lens, if a look at the stop agrees."""
        self.scene = None
        if lens.reads_exact_position:
            return
        store = self.w.store
        try:
            scene = store.load_scene(lens.camera_model, lens.lens_name)
        except InputError as exc:
            # Only a cache of what the camera saw: kept aside for a look, not used.
            path = store.scene_path(lens.camera_model, lens.lens_name)
            aside = path.with_name(path.name + ".bad")
            path.replace(aside)
            log.warning("%s; moved to %s. INFO into play learns the scene again", exc, aside)
            return
        if scene is None:
            return
        lens.wait_free()
        if holds(lens, scene):
            self.scene = scene
            log.info("the scene learnt before still holds: positions are checked in the "
                     "live view")
        else:
            log.info("the scene changed since it was learnt: INFO into play learns it again")

    def check(self, lens: Lens, target: int, start: int | None,
              look: bool = True) -> tuple[float | None, float | None]:
        """Where the lens landed, and where it is after correcting: camera, then picture.

        Fuji reads exact positions: that is the check.  Sony's coarse
        reading catches a lost move; the picture then settles the last steps,
        but only where the scene is still (``look``): in a moving scene a
        subject that moved looks just like a lens that is off.
        """
        before, after = lens.checked(target)
        if lens.reads_exact_position or self.scene is None or not look:
            return before, after
        check = check_arrival(lens, self.scene, target, start, interrupted(self.w))
        if not check.verified and check.reason != "interrupted":
            log.info("live view check at %d: %s", target, check.reason)
        return (check.found if before is None else before), check.left

    def arm(self, lens: Lens, farthest: int) -> None:
        """Entering play in a still scene: keep the scene if it holds, otherwise home and
        learn it."""
        w = self.w
        assert lens.model is not None
        reach = min(lens.model.steps, farthest + LEARN_MARGIN)
        if lens.reads_exact_position:
            moved(w, lens)
            return
        if lens.trusted and self.scene is not None and self.scene.reach >= reach \
                and holds(lens, self.scene):
            moved(w, lens)
            return
        back = lens.position
        progress(w, Activity.HOMING)("homing", 0.0)
        lens.home()
        started = w.clock.now()
        report = progress(w, Activity.LEARNING)
        scene = learn_scene(lens, reach, lambda f: report("scene", f), interrupted(w))
        while len(w.inbox) and isinstance(w.inbox.get_nowait(), Skip):
            pass  # the presses that ended it early
        if scene is None:
            log.warning("learning the scene was stopped too early to be of use")
        else:
            self.scene = scene
            path = w.store.save_scene(scene)
            log.info("scene learnt up to %d steps in %.0f s, saved to %s", scene.reach,
                     w.clock.now() - started, path)
            w.observer.learned(started, w.clock.now())
        if back is not None:
            lens.move_to(round(back))
            self.check(lens, round(back), scene.reach if scene else None)
        moved(w, lens)
