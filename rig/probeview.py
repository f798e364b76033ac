"""What the probe reads from live-view frames: pure functions on JPEG bytes.

No camera here (:mod:`rig.probe` takes the frames).  Each function returns a
value and how sure it is, or None when the picture cannot tell:

* :func:`frame_size`: the frame's width and height;
* :func:`noise_and_flicker`: the sensor noise (grey levels, one sigma, as
  the camera's JPEG shows it) and the frame-to-frame brightness change,
  from frames taken with the lens at rest;
* :func:`scale_between`: how much larger one picture is than another about
  its centre (focus breathing, from frames at the two stops), by the best
  correlation of the two after a low-pass that evens out their defocus;
* :func:`tile_sharpness` and :func:`layers`: the focus curve of each part of
  the frame along a sweep, and the planes of the scene that the peaks of
  those curves group into (the background that fills the frame, and what
  stands in front of it, with its box).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .vision import focus_measure, grey

__all__ = ["frame_size", "noise_and_flicker", "scale_between", "Scale", "tile_sharpness",
           "layers", "Plane", "peak", "TILES", "breathing"]

TILES = (8, 6)            # columns, rows of the grid a frame's sharpness is kept in
ANALYSIS_WIDTH = 320      # frames are decoded this wide for sharpness and scale


def frame_size(jpeg: bytes) -> tuple[int, int]:
    """Width and height of a JPEG frame, in pixels."""
    with Image.open(io.BytesIO(jpeg)) as img:
        return int(img.width), int(img.height)


def _full(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("L"), dtype=np.float64)


def _pair_noise(a: np.ndarray, b: np.ndarray) -> float:
    """The noise of one frame from two of the same picture: what is left of their
    difference once the brightness change between them is taken out."""
    gain = float((a * b).sum() / max((b * b).sum(), 1e-9))
    return float((a - gain * b).std()) / math.sqrt(1.0 + gain * gain)


def _through_jpeg(picture: np.ndarray, tables: dict | None) -> np.ndarray:
    buf = io.BytesIO()
    img = Image.fromarray(np.clip(np.rint(picture), 0, 255).astype(np.uint8), mode="L")
    if tables:
        img.save(buf, format="JPEG", qtables=[tables[min(tables)]])
    else:
        img.save(buf, format="JPEG", quality=85)
    return _full(buf.getvalue())


def noise_and_flicker(frames: Sequence[bytes]) -> tuple[float, float, float, int] | None:
    """Sensor noise (grey levels) and flicker (a share of the brightness), one sigma.

    ``frames`` were taken with the lens and the scene at rest.  Flicker is
    the spread of the frames' mean brightness about their mean.  The noise
    the JPEG shows is what is left of the difference of two frames once the
    brightness change between them is taken out, over the square root of
    two (the median over consecutive pairs).  The camera's JPEG smooths
    some of the noise away; the noise *before* it is found by putting
    white noise on the frames' mean through the same quantization tables
    (the JPEG's own) until it shows as much.  Returns (noise before the
    JPEG, flicker, noise the JPEG shows, pairs), or None with fewer than
    three frames.
    """
    if len(frames) < 3:
        return None
    pictures = [_full(f) for f in frames]
    means = np.array([p.mean() for p in pictures])
    flicker = float(means.std(ddof=1) / max(means.mean(), 1e-9))
    shown = float(np.median([_pair_noise(a, b) for a, b in zip(pictures, pictures[1:])]))
    with Image.open(io.BytesIO(frames[0])) as img:
        tables = getattr(img, "quantization", None)
    clean = np.mean([p * (means.mean() / m) for p, m in zip(pictures, means)], axis=0)
    h, w = clean.shape          # the middle, in whole JPEG blocks, is plenty to match on
    y0, x0 = (h // 4) // 16 * 16, (w // 4) // 16 * 16
    clean = clean[y0:y0 + max(16, h // 2 // 16 * 16), x0:x0 + max(16, w // 2 // 16 * 16)]
    rng = np.random.default_rng(0)
    draws = [rng.standard_normal(clean.shape) for _ in range(2)]

    def seen(sigma: float) -> float:
        a, b = (_through_jpeg(clean + sigma * d, tables) for d in draws)
        return _pair_noise(a, b)

    lo, hi = 0.0, 3.0 * shown + 2.0
    if seen(hi) < shown:
        return shown, flicker, shown, len(pictures) - 1
    for _ in range(11):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if seen(mid) < shown else (lo, mid)
    return 0.5 * (lo + hi), flicker, shown, len(pictures) - 1


# ------------------------------------------------------------------ scale


@dataclass(frozen=True)
class Scale:
    """One picture against another: ``value`` times as large about the centre."""

    value: float
    sigma: float          # from the curvature of the match and its noise
    match: float          # correlation at the best scale (1 is a perfect match)


def _lowpass(img: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` pixels (separable; the edges repeat)."""
    half = int(math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.pad(img, half, mode="edge")
    out = np.apply_along_axis(lambda v: np.convolve(v, taps, mode="valid"), 0, out)
    return np.apply_along_axis(lambda v: np.convolve(v, taps, mode="valid"), 1, out)


def _zoom(img: np.ndarray, k: float) -> np.ndarray:
    """``img`` k times as large about its centre, same size, sampled bilinearly
    (the edge repeats where a smaller picture leaves the frame)."""
    h, w = img.shape
    ys = np.clip((np.arange(h) + 0.5 - h / 2.0) / k + h / 2.0 - 0.5, 0, h - 1)
    xs = np.clip((np.arange(w) + 0.5 - w / 2.0) / k + w / 2.0 - 0.5, 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(int), h - 2)
    x0 = np.minimum(np.floor(xs).astype(int), w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x0 + 1] * fx
    bottom = img[y0 + 1][:, x0] * (1 - fx) + img[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def scale_between(larger: bytes, smaller: bytes, *, low: float = 0.9, high: float = 1.25,
                  width: int = ANALYSIS_WIDTH) -> Scale | None:
    """How many times larger the picture in ``larger`` is than in ``smaller``.

    Both are low-passed (defocus differs between them; the shapes stay),
    then ``smaller`` is enlarged by each trial scale and compared with
    ``larger`` inside the middle of the frame (the edge moves out of view).
    A parabola through the best trial and its neighbours gives the scale.
    None when the pictures do not match at any scale (no detail, or the
    scene changed).
    """
    a, b = grey(larger, width).astype(np.float64), grey(smaller, width).astype(np.float64)
    if a.shape != b.shape:
        return None
    radius = max(2.0, width / 80.0)
    a, b = _lowpass(a, radius), _lowpass(b, radius)
    h, w = a.shape
    my, mx = int(0.15 * h), int(0.15 * w)
    core = (slice(my, h - my), slice(mx, w - mx))
    if a[core].std() < 1.0 or b[core].std() < 1.0:
        return None

    def score(k: float) -> float:
        return _corr(a[core], _zoom(b, k)[core])

    coarse = np.arange(low, high + 1e-9, 0.01)
    values = np.array([score(k) for k in coarse])
    i = int(np.argmax(values))
    fine = np.arange(coarse[i] - 0.012, coarse[i] + 0.0121, 0.002)
    fine_values = np.array([score(k) for k in fine])
    j = int(np.argmax(fine_values))
    best, match = float(fine[j]), float(fine_values[j])
    if match < 0.5:
        return None
    sigma = 0.002
    if 0 < j < len(fine) - 1:
        y0, y1, y2 = fine_values[j - 1], fine_values[j], fine_values[j + 1]
        curve = y0 - 2 * y1 + y2
        if curve < 0:
            best += float(np.clip(0.5 * (y0 - y2) / curve, -0.5, 0.5)) * 0.002
            # The correlation's own noise: the spread of its residuals about the fit
            # is below a thousandth; a tenth of the trial spacing is as fine as it gets.
            sigma = max(0.0005, math.sqrt(max(1.0 - match, 0.0) * 2e-3 / -curve) * 0.002)
    if i in (0, len(coarse) - 1):
        return None        # at the edge of the search: not found inside it
    return Scale(best, sigma, match)


def breathing(frames: Sequence[tuple[float, bytes]], span: float, *,
              pairs: int = 8) -> tuple[float, float, int] | None:
    """Focus breathing from frames along the range: (b, sigma, pairs used).

    The picture's scale at lens position x is ``1 + b (1 - x/R)`` times the
    far stop's (``b`` is the profile's ``optics.breathing``).  Frames a
    sixth of the range apart have similar defocus, so the scale between
    them is measured without the bias a large difference of blur brings
    (near stop against far stop, where one picture may be all blur); ``b``
    is the one value that fits every pair best, each weighted by how sure
    its scale is.  ``frames`` are (position, JPEG), in any order.
    """
    ordered = sorted(frames, key=lambda f: f[0])
    if len(ordered) < 2 or span <= 0:
        return None
    apart = span / 6.0
    picked: list[tuple[float, float, Scale]] = []
    starts = np.linspace(0.0, span - apart, pairs)
    xs = np.array([x for x, _ in ordered])
    for start in starts:
        i = int(np.argmin(np.abs(xs - start)))
        j = int(np.argmin(np.abs(xs - (xs[i] + apart))))
        if j <= i:
            continue
        s = scale_between(ordered[i][1], ordered[j][1], low=0.9, high=1.12)
        if s is not None and s.match >= 0.9:
            picked.append((1.0 - xs[i] / span, 1.0 - xs[j] / span, s))
    if not picked:
        return None
    trials = np.linspace(-0.2, 0.5, 1401)

    def misfit(b: float) -> float:
        return sum((math.log(s.value) - math.log((1 + b * ui) / (1 + b * uj))) ** 2
                   / s.sigma ** 2 for ui, uj, s in picked)

    costs = np.array([misfit(b) for b in trials])
    k = int(np.argmin(costs))
    best = float(trials[k])
    # one sigma: where the misfit has grown by one (or the scatter of the pairs, if larger)
    inside = trials[costs <= costs[k] + 1.0]
    sigma = max(float(inside.max() - inside.min()) / 2.0, 0.0005)
    if len(picked) > 2:
        each = [(s.value - 1.0) / max(ui - uj, 1e-6) for ui, uj, s in picked]
        sigma = max(sigma, float(np.std(each, ddof=1)) / math.sqrt(len(each)))
    return best, sigma, len(picked)


# ------------------------------------------------------------------ layers


def tile_sharpness(jpeg: bytes, tiles: tuple[int, int] = TILES,
                   width: int = ANALYSIS_WIDTH) -> tuple[float, np.ndarray]:
    """The frame's sharpness (:func:`rig.vision.focus_measure`), whole and per tile.

    The tiles are a ``tiles`` (columns, rows) grid; the array is rows x columns.
    """
    img = grey(jpeg, width)
    cols, rows = tiles
    h, w = img.shape
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            part = img[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols]
            out[r, c] = focus_measure(part)
    return focus_measure(img), out


def peak(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Where a focus curve peaks (a parabola through log-sharpness at the best three
    samples) and how clearly (best / median; about 1 for a curve without a peak)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) < 3 or not np.all(ys > 0):
        return None
    i = int(np.argmax(ys))
    clarity = float(ys[i] / np.median(ys))
    at = float(xs[i])
    if 0 < i < len(xs) - 1:
        l0, l1, l2 = np.log(ys[i - 1:i + 2])
        curve = l0 - 2 * l1 + l2
        if curve < 0:
            f = float(np.clip(0.5 * (l0 - l2) / curve, -0.5, 0.5))
            at += f * (xs[i + 1] - xs[i - 1]) / 2.0
    return at, clarity


@dataclass(frozen=True)
class Plane:
    """A plane of the scene: where the lens is sharp on it, and where it is in the frame."""

    position: float                         # lens position (steps) where it is sharpest
    spread: float                           # spread of its tiles' peaks (steps)
    tiles: int                              # tiles that peak there
    box: tuple[float, float, float, float] | None   # x, y, w, h (fractions); None: fills
    at_stop: bool                           # sharpest at the last position swept (or beyond)


CLEAR = 1.6       # a tile's focus curve peaks at least this far above its median
MIN_SHARE = 0.05  # a plane covers at least this share of the tiles (and two)


def layers(positions: Sequence[float], tile_curves: np.ndarray, gap: float,
           tiles: tuple[int, int] = TILES) -> list[Plane]:
    """The planes a sweep's tile curves group into, the background first.

    ``tile_curves`` is (frames, rows, columns).  Each tile's curve has a
    peak; tiles without a clear peak (a blank part of the frame) are left
    out.  Peaks closer than ``gap`` steps to their neighbour form one plane.
    The background is the plane with the most tiles on the frame's edge; it
    fills the frame.  Each other plane gets the box around its tiles, and
    they follow farthest first, so the nearest, the subject, is last (a
    profile's order: later layers cover earlier ones).
    """
    xs = np.asarray(positions, dtype=float)
    curves = np.asarray(tile_curves, dtype=float)
    _, rows, cols = curves.shape
    found = []
    for r in range(rows):
        for c in range(cols):
            p = peak(xs, curves[:, r, c])
            if p is not None and p[1] >= CLEAR:
                found.append((p[0], r, c))
    if not found:
        return []
    least = max(2, int(round(MIN_SHARE * rows * cols)))
    found.sort()
    groups: list[list[tuple[float, int, int]]] = [[found[0]]]
    for item in found[1:]:
        if item[0] - groups[-1][-1][0] <= gap:
            groups[-1].append(item)
        else:
            groups.append([item])
    groups = [g for g in groups if len(g) >= least]
    if not groups:
        return []
    last = float(xs.max())

    def edge(g: list[tuple[float, int, int]]) -> int:
        return sum(1 for _, r, c in g if r in (0, rows - 1) or c in (0, cols - 1))

    background = max(groups, key=lambda g: (edge(g), len(g)))
    planes = []
    for g in groups:
        where = np.array([x for x, _, _ in g])
        box = None
        if g is not background:
            r0, r1 = min(r for _, r, _ in g), max(r for _, r, _ in g) + 1
            c0, c1 = min(c for _, _, c in g), max(c for _, _, c in g) + 1
            box = (c0 / cols, r0 / rows, (c1 - c0) / cols, (r1 - r0) / rows)
        centre = float(np.median(where))
        planes.append(Plane(centre, float(where.std()), len(g), box,
                            centre >= last - gap / 2))
    planes.sort(key=lambda p: (p.box is not None, -p.position))
    return planes


# ------------------------------------------------------------------ blur


def _disc(diameter: float) -> np.ndarray:
    """A uniform disc of ``diameter`` pixels, its edge antialiased, summing to 1."""
    r = diameter / 2.0
    half = int(math.ceil(r)) + 1
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    weight = np.clip(r + 0.5 - np.hypot(x, y), 0.0, 1.0)
    return weight / weight.sum()


def _blur(img: np.ndarray, diameter: float) -> np.ndarray:
    """``img`` convolved with a disc (FFT, the edges wrapped: callers use the middle)."""
    if diameter < 0.5:
        return img
    k = _disc(diameter)
    h, w = img.shape
    pad = np.zeros((h, w))
    kh, kw = k.shape
    pad[:kh, :kw] = k
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * np.fft.fft2(pad)))


def blur_diameter(sharp: np.ndarray, other: np.ndarray, most: float) -> tuple[float, float]:
    """The disc diameter that blurs ``sharp`` into ``other`` best (grey arrays, the same
    region): (diameter, how well it then matches: the share of ``other``'s detail left
    unexplained)."""
    h, w = sharp.shape
    my, mx = max(2, h // 8), max(2, w // 8)
    core = (slice(my, h - my), slice(mx, w - mx))
    target = other[core] - other[core].mean()
    best = (math.inf, 0.0)
    trials = np.concatenate([np.arange(0.0, 4.0, 0.25), np.geomspace(4.0, max(most, 4.5), 30)])
    for d in trials:
        guess = _blur(sharp, float(d))[core]
        guess = guess - guess.mean()
        gain = float((guess * target).sum() / max((guess * guess).sum(), 1e-9))
        misfit = float(((target - gain * guess) ** 2).sum())
        if misfit < best[0]:
            best = (misfit, float(d))
    return best[1], best[0] / max(float((target * target).sum()), 1e-9)


def blur_per_dioptre(sharp: bytes, frames: Sequence[tuple[float, bytes]],
                     box: tuple[float, float, float, float] | None,
                     width: int = ANALYSIS_WIDTH) -> tuple[float, float, int] | None:
    """How much the blur grows per dioptre of defocus, in pixels at ``width``.

    ``sharp`` is the frame where a plane of the scene is sharpest; ``frames``
    are (its defocus in dioptres, JPEG) elsewhere.  In ``box`` (the plane's
    place in the frame, or the whole frame), each frame is matched by the
    sharp one blurred by a disc; the diameters against the defocus give a
    line whose slope is the answer (its intercept takes up the sharp frame's
    own residual blur).  Returns (slope, its sigma, frames used), or None.
    """
    def region(jpeg: bytes) -> np.ndarray:
        img = grey(jpeg, width).astype(np.float64)
        if box is None:
            return img
        h, w = img.shape
        x, y, bw, bh = box
        return img[int(y * h):int((y + bh) * h), int(x * w):int((x + bw) * w)]

    base = region(sharp)
    if min(base.shape) < 16:
        return None
    points = []
    for defocus, jpeg in frames:
        d, misfit = blur_diameter(base, region(jpeg), 0.5 * min(base.shape))
        if misfit < 0.5 and 1.0 <= d < 0.4 * min(base.shape):
            points.append((abs(defocus), d))
    if len(points) < 3:
        return None
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    a = np.vstack([x, np.ones_like(x)]).T
    (slope, _), residual, *_ = np.linalg.lstsq(a, y, rcond=None)
    spread = float(np.sqrt(residual[0] / max(len(x) - 2, 1))) if len(residual) else 0.0
    sigma = spread / max(float(np.sqrt(((x - x.mean()) ** 2).sum())), 1e-9)
    if slope <= 0:
        return None
    return float(slope), float(sigma), len(points)
