"""Measurements on live-view frames, for a camera that reports no position.

Tools on plain numpy arrays:

* :func:`fingerprint` shrinks a JPEG to a small grey image (about 80 px
  wide).  Shrinking averages the sensor noise away while keeping the blur
  that tells one focus position from another.  JPEG's own DCT scaling
  (``Image.draft``) does most of the shrinking: libjpeg decodes a 960x640
  Canon frame at 1/8 of its size, in a millisecond or two.  :func:`grey`
  decodes at 1/2 or 1/4 the same way (``bench/frames.py`` gives the costs;
  ``tests/test_vision.py`` shows the results match a full decode's).
* :func:`focus_measure` scores sharpness in a region (variance of a
  Laplacian on a lightly smoothed image), sharp near focus;
  :func:`broad_measure` (gradient energy of 4 x 4 blocks) is broad, for
  finding the peak from afar.
* :class:`Encoder` is a table of fingerprints recorded one size-1 step apart
  from the near stop.  A new frame is placed on that table by its nearest
  fingerprint, with a parabola through the three best neighbours for a
  fraction of a step.  This is how calibration turns the live view into a
  position sensor (the OpenFlexure idea of using a recorded sharpness curve
  as an encoder).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["fingerprint", "steady_fingerprint", "grey", "crop", "focus_measure", "broad_measure",
           "distance", "shows_detail", "FLAT", "Encoder", "Fix", "low_rank", "Roi"]

FINGERPRINT_WIDTH = 80


def _open(jpeg: bytes | memoryview, width: int) -> Image.Image:
    img = Image.open(io.BytesIO(jpeg))
    img.draft("L", (width, max(1, width * img.height // img.width)))
    return img.convert("L")


def grey(jpeg: bytes | memoryview, width: int = 320) -> np.ndarray:
    """The frame as floats, about ``width`` pixels wide."""
    img = _open(jpeg, width)
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))),
                         Image.BOX)
    return np.asarray(img, dtype=np.float32)


def fingerprint(jpeg: bytes | memoryview, width: int = FINGERPRINT_WIDTH) -> np.ndarray:
    """A small, mean-free grey image of the frame, as a flat float32 vector."""
    img = _open(jpeg, width)
    height = max(1, round(img.height * width / img.width))
    img = img.resize((width, height), Image.BOX)
    arr = np.asarray(img, dtype=np.float32).ravel()
    return arr - arr.mean()


STEADY_MEAN = 128.0   # the mean grey a steady fingerprint is scaled to


def steady_fingerprint(jpeg: bytes | memoryview, width: int = FINGERPRINT_WIDTH) -> np.ndarray:
    """A fingerprint with the frame's brightness gain taken out (flicker, exposure).

    Flicker scales a whole frame's brightness, and with it every grey level
    of its fingerprint; focus barely changes a frame's mean.  Scaled so the
    frame's mean is ``STEADY_MEAN``, two frames of one focus position agree
    whatever the light did between them.
    """
    img = _open(jpeg, width)
    height = max(1, round(img.height * width / img.width))
    img = img.resize((width, height), Image.BOX)
    arr = np.asarray(img, dtype=np.float32).ravel()
    mean = float(arr.mean())
    return (arr - mean) * np.float32(STEADY_MEAN / max(mean, 1.0))


FLAT = 3.0   # a fingerprint varying less than this (grey levels) shows nothing


def shows_detail(fp: np.ndarray) -> bool:
    """Whether a fingerprint has enough structure for a lens move to show in it."""
    return float(fp.std()) >= FLAT


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two fingerprints (grey levels squared)."""
    d = a - b
    return float(np.dot(d, d) / d.size)


Roi = tuple[float, float, float, float]   # x, y, w, h as fractions of the frame


def crop(img: np.ndarray, roi: Roi | None) -> np.ndarray:
    """The part of ``img`` inside ``roi`` (at least 8 x 8 pixels)."""
    img = np.asarray(img, dtype=np.float32)
    if roi is None:
        return img
    h, w = img.shape
    x0, y0 = int(roi[0] * w), int(roi[1] * h)
    x1, y1 = max(x0 + 8, int((roi[0] + roi[2]) * w)), max(y0 + 8, int((roi[1] + roi[3]) * h))
    return img[y0:y1, x0:x1]


def focus_measure(img: np.ndarray, roi: Roi | None = None) -> float:
    """Sharpness of ``img`` inside ``roi`` (x, y, w, h as fractions of the frame).

    The variance of a 4-neighbour Laplacian after a [1 2 1] binomial
    smoothing: the smoothing takes the edge off sensor noise while the
    Laplacian stays steep near focus.  A *sharp* measure: it falls to half
    within a few blur pixels of focus (``docs/autofocus.md``).
    """
    img = crop(img, roi)
    rows = 0.25 * img[:-2] + 0.5 * img[1:-1] + 0.25 * img[2:]
    smooth = 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    lap = (-4.0 * smooth[1:-1, 1:-1] + smooth[:-2, 1:-1] + smooth[2:, 1:-1]
           + smooth[1:-1, :-2] + smooth[1:-1, 2:])
    return float(lap.var())


BROAD_BLOCK = 4   # pixels averaged per side before the broad measure's gradients


def broad_measure(img: np.ndarray, roi: Roi | None = None, block: int = BROAD_BLOCK) -> float:
    """A *broad* sharpness of ``img`` inside ``roi``: gradient energy at a coarse scale.

    The region is averaged over ``block`` x ``block`` pixels (which divides
    sensor noise by ``block``), then the mean squared difference of
    neighbouring blocks is taken.  Blur far beyond a pixel still changes
    it, so it rises steadily from far out of focus to the peak: the coarse
    stage of autofocus can see which way the peak lies from afar
    (``docs/autofocus.md`` compares it with the other measures).
    """
    img = crop(img, roi)
    h, w = (img.shape[0] // block) * block, (img.shape[1] // block) * block
    small = img[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    dx = np.diff(small, axis=1)
    dy = np.diff(small, axis=0)
    return float((dx * dx).mean() + (dy * dy).mean())


@dataclass(frozen=True)
class Fix:
    """Where a frame sits on an :class:`Encoder` table."""

    position: float     # in size-1 steps from the near stop
    residual: float     # distance to the best entry (noise level when it fits)
    contrast: float     # how much worse the entries 3 steps away fit


def low_rank(table: np.ndarray, noise: float, *, max_rank: int = 24,
             seed: int = 0) -> tuple[np.ndarray, int]:
    """``table`` with its noise removed: the components that stand above it.

    Fingerprints change smoothly with focus, so a whole sweep lives in a few
    directions; sensor noise spreads over all of them.  Components whose
    singular value is above the noise edge (1.1 x sigma x (sqrt(rows) +
    sqrt(columns)), the largest a pure-noise table would show) are kept.
    A randomized SVD (two power iterations) finds the top components without
    decomposing the whole table, which matters on a Raspberry Pi.
    """
    x = np.asarray(table, dtype=np.float64)
    mean = x.mean(axis=0)
    x = x - mean
    rows, cols = x.shape
    width = min(max_rank + 8, rows, cols)
    rng = np.random.default_rng(seed)
    y = x @ rng.standard_normal((cols, width))
    for _ in range(2):
        y, _ = np.linalg.qr(y)
        y = x @ (x.T @ y)
    q, _ = np.linalg.qr(y)
    u, sv, vt = np.linalg.svd(q.T @ x, full_matrices=False)
    sigma = np.sqrt(max(noise, 1e-9) / 2.0)   # per-pixel noise of one fingerprint
    edge = 1.1 * sigma * (np.sqrt(rows) + np.sqrt(cols))
    rank = int(np.clip(np.count_nonzero(sv > edge), 1, max_rank))
    clean = (q @ u[:, :rank]) * sv[:rank] @ vt[:rank] + mean
    return clean.astype(np.float32), rank


class Encoder:
    """Fingerprints taken one size-1 step apart, used as a position sensor.

    Placement is good to about a tenth of a step from frame to frame, with a
    bias of up to half a step at some positions (JPEG quantization makes a
    frame a slightly rough function of focus): enough to tell a command of
    any size that went missing, not always a single size-1 step.
    """

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=np.float32)
        self._norms = np.einsum("ij,ij->i", self.table, self.table)

    def __len__(self) -> int:
        return len(self.table)

    def distances(self, fp: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        hi = len(self.table) - 1 if hi is None else hi
        rows = self.table[lo:hi + 1]
        d = self._norms[lo:hi + 1] - 2.0 * (rows @ fp) + float(np.dot(fp, fp))
        return d / fp.size

    def locate(self, fp: np.ndarray, lo: float = 0, hi: float | None = None) -> Fix:
        """The table position that best matches ``fp``, searched in [lo, hi]."""
        last = len(self.table) - 1
        lo_i = int(max(0, np.floor(lo)))
        hi_i = int(min(last, np.ceil(last if hi is None else hi)))
        if hi_i < lo_i:
            lo_i = hi_i = int(min(max(lo, 0), last))
        d = self.distances(fp, lo_i, hi_i)
        i = int(np.argmin(d))
        pos = float(lo_i + i)
        if 0 < i < len(d) - 1:
            a, b, c = d[i - 1], d[i], d[i + 1]
            curve = a - 2 * b + c
            if curve > 0:
                pos += float(np.clip(0.5 * (a - c) / curve, -0.5, 0.5))
        around = [d[j] for j in (i - 3, i + 3) if 0 <= j < len(d)]
        contrast = float(min(around) - d[i]) if around else 0.0
        return Fix(pos, float(d[i]), contrast)

    def sensitivity(self, span: int = 3) -> np.ndarray:
        """How much the fingerprint changes per step at each table entry."""
        n = len(self.table)
        out = np.zeros(n, dtype=np.float32)
        for i in range(n):
            a, b = max(0, i - span), min(n - 1, i + span)
            if b > a:
                d = self.table[b] - self.table[a]
                out[i] = float(np.sqrt(np.dot(d, d) / d.size)) / (b - a)
        return out
