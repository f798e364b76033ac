"""The camera as ``rig probe`` drives it: timed calls, never a third request outstanding.

A Canon queues drive requests and is reported to crash with five
outstanding; Magic Lantern keeps fewer than three.  :class:`Port` counts a
request as outstanding from its call until its motion has surely ended (the
later of its return and the end of the request before it, since it may
queue, plus an upper bound on its size's motion time: loose until measured)
and waits before sending a third.  A request the camera answered with an
error counts too: a camera may have queued it all the same.

It also takes frames (timed) and compares pictures by a *signature*: the
frame's fingerprint (its shapes, :func:`rig.vision.fingerprint`) and the
sharpness of each of its tiles (its detail, which changes most with focus
where the shapes barely do), each with the brightness change of flicker
taken out and weighed by how much it varies between frames at rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import gphoto2 as gp
import numpy as np

from .drives import DriveRefused, StopReached
from .lens import Lens, LensError
from .probefit import Shot
from .probeview import tile_sharpness
from .vision import fingerprint

__all__ = ["Port", "ProbeSettings", "Sent", "distance", "signature", "MAX_OUTSTANDING"]

MAX_OUTSTANDING = 2       # drive requests, moving or waiting


@dataclass(frozen=True)
class ProbeSettings:
    rest_frames: int = 20            # frames at rest: frame time, noise, flicker
    liveview_off_s: float = 1.0      # live view off this long before the start-up frame
    latency_calls: int = 24
    loose_bound_s: tuple[float, float, float] = (0.5, 1.0, 2.0)  # motion bounds until measured
    watch_s: float = 4.0             # a motion is watched frame by frame this long at most
    still_s: float = 0.6             # ... and over once the picture stays this long
    stop_still: int = 4              # commands without change that mean "at the stop"
    overdrive: int = 2               # commands more into a stop
    max_commands: int = 250          # commands at most while looking for a stop
    busy_tries: int = 3
    sweep_frames: int = 120          # at most, from stop to stop


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two fingerprints once their contrast is matched.

    Flicker scales a whole frame's brightness, and a fingerprint's contrast
    with it; fitting that gain out leaves what focus changed (and the noise).
    """
    g = float(np.dot(a, b) / max(float(np.dot(b, b)), 1e-9))
    d = a - g * b
    return float(np.dot(d, d) / d.size)


SIGNATURE_WIDTH = 640   # tiles' sharpness at up to this width: a wide lens's blur is a
                        # pixel or two across the range, which a smaller picture loses


def signature(jpeg: bytes) -> np.ndarray:
    """A frame's fingerprint, then the log-sharpness of its tiles less their mean
    (flicker scales every tile's sharpness alike)."""
    tiles = tile_sharpness(jpeg, width=SIGNATURE_WIDTH)[1]
    logs = np.log(np.asarray(tiles).ravel() + 1e-3)
    return np.concatenate([fingerprint(jpeg), logs - logs.mean()]).astype(np.float64)


TILE_COUNT = 48               # rig.probeview.TILES: 8 x 6


@dataclass
class Sent:
    size: int
    direction: int
    t0: float
    t1: float
    code: int = 0            # 0, or the GPhoto2Error code the camera answered


class Port:
    """Drive requests and frames, timed; at most :data:`MAX_OUTSTANDING` requests out."""

    def __init__(self, lens: Lens, settings: ProbeSettings) -> None:
        self.lens = lens
        self.clock = lens.clock
        self.s = settings
        self.bound = {k: settings.loose_bound_s[min(k, 3) - 1] for k in lens.caps.sizes}
        self.ends: list[float] = []
        self.log: list[Sent] = []
        self.most = 0
        self.levels = (1.0, 1.0)  # typical distances at rest: shapes, detail
        self.noise = 1.0          # :meth:`apart` of two frames at rest, at most

    def learn_noise(self, frames: list[bytes]) -> None:
        """How far apart frames at rest are: the yardstick for "still"."""
        signs = [signature(f) for f in frames]
        pairs = list(zip(signs, signs[1:]))
        shapes = [distance(a[:-TILE_COUNT], b[:-TILE_COUNT]) for a, b in pairs]
        detail = [_plain(a[-TILE_COUNT:], b[-TILE_COUNT:]) for a, b in pairs]
        self.levels = (max(float(np.median(shapes)), 1e-6), max(float(np.median(detail)), 1e-6))
        gaps = [self.apart(a, b) for a, b in pairs]
        self.noise = max(2.0 * float(np.median(gaps)), 1.5 * float(np.max(gaps)))

    def outstanding(self) -> int:
        now = self.clock.now()
        self.ends = [e for e in self.ends if e > now]
        return len(self.ends)

    def send(self, size: int, direction: int) -> Sent:
        """One drive request, raw: no retry, the camera's answer kept.

        -110 (busy) is kept in the :class:`Sent`; other errors are raised.
        """
        while self.outstanding() >= MAX_OUTSTANDING:
            self.clock.sleep_until(min(self.ends))
        if self.lens.cancelled:
            raise KeyboardInterrupt
        drive = self.lens.drive
        assert drive is not None
        t0 = self.clock.now()
        code = 0
        try:
            drive.send(size, direction)
        except StopReached:
            pass                  # a camera that says "at limit" (Nikon): the lens is there
        except DriveRefused as exc:
            raise LensError(str(exc)) from None
        except gp.GPhoto2Error as exc:
            code = exc.code
            self.lens.ctx.take()
        t1 = self.clock.now()
        self.most = max(self.most, self.outstanding() + 1)
        self.ends.append(max([t1] + self.ends) + self.bound[size])
        sent = Sent(size, direction, t0, t1, code)
        self.log.append(sent)
        if code and code != gp.GP_ERROR_CAMERA_BUSY:
            raise gp.GPhoto2Error(code)
        return sent

    def free_at(self) -> float:
        """When every request sent so far has surely ended."""
        self.outstanding()
        return max(self.ends, default=self.clock.now())

    def settle(self, extra: float = 0.0) -> None:
        self.clock.sleep_until(max(self.free_at(), self.clock.now()) + extra)

    def forget(self) -> None:
        """Every request has ended (the picture, or another's bookkeeping, says so)."""
        self.ends = []

    def shot(self) -> Shot:
        if self.lens.cancelled:
            raise KeyboardInterrupt
        t0 = self.clock.now()
        data = bytes(self.lens.camera.capture_preview(None, self.lens.ctx.context)
                     .get_data_and_size())
        return Shot(t0, self.clock.now(), data)

    def rest(self, frames: int = 2) -> np.ndarray:
        """The signature of the picture with the lens at rest (the mean of a few frames)."""
        self.settle()
        return np.mean([signature(self.shot().data) for _ in range(frames)], axis=0)

    def apart(self, a: np.ndarray, b: np.ndarray) -> float:
        """How different two signatures are, in units of the difference at rest."""
        shapes = distance(a[:-TILE_COUNT], b[:-TILE_COUNT]) / self.levels[0]
        detail = _plain(a[-TILE_COUNT:], b[-TILE_COUNT:]) / self.levels[1]
        return 0.5 * (shapes + detail)

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Two pictures the same but for noise and flicker, as frames at rest differ."""
        return self.apart(a, b) <= self.noise


def _plain(a: np.ndarray, b: np.ndarray) -> float:
    d = a - b
    return float(np.dot(d, d) / d.size)
