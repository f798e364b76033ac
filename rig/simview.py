"""The simulated camera's live view: each layer blurred by its own disc, as a JPEG.

:class:`View` draws the frame at a lens position and a moment
(:class:`rig.simscene.Scene` says where everything is): each layer blurred
by the disc the lens makes at its distance (or, on a legacy profile, the
one textured plane by its Gaussian, exactly as it always was), scaled and
shifted, composited, with the light, the flicker and the sensor noise, as
the JPEG a camera sends.

Frame work is kept affordable by blurring each layer once per *level* of
blur (a ladder of disc diameters: quarter-pixel steps up to 4 px, then 8 %
apart), in the Fourier domain, and interpolating linearly between the two
levels either side of the diameter wanted.  Wide blurs are kept at a
fraction of the size (:func:`reduction`).  Levels stay in a cache with a
byte budget.  ``bench/frames.py`` prints the cost per frame.
"""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageFilter

from .simprofile import Profile
from .simscene import Scene

__all__ = ["View", "Plate", "jinc", "disc_transfer", "level_of", "level_value", "reduction"]

WALKER_WIDTH = 0.16       # someone crossing the frame is this share of it wide
SENSOR_SIGMA = 0.35       # px: pixel aperture and anti-alias filter, a Gaussian
LEVEL_STEP = 0.25         # px: blur levels up to LEVEL_LINEAR px ...
LEVEL_LINEAR = 4.0
LEVEL_RATIO = 1.08        # ... then this far apart
CACHE_BYTES = 160 << 20   # blurred levels kept per camera body
JPEG_QUALITY = 85
# How a scaled layer (breathing, a dolly, a move in depth, a fractional pan) is
# resampled.  Not bilinear: at a scale of 1 + e, bilinear interpolation
# averages neighbouring pixels by a share that drifts slowly across the
# frame (the sub-pixel phase), a blur of its own that changes with the lens
# position as the breathing does.  A lens that breathed 0.1 % lost 5 % of
# its sharp measure on one side of focus and 1 % on the other, a slope that
# moved autofocus 7 steps; a picture that breathed 8 % lost 30 % at focus.
# Lanczos (3 lobes) keeps the band the pixels carry: within 0.1 % at 0.1 %
# breathing (tests/test_simscene.py, docs/autofocus.md).
RESAMPLE = Image.LANCZOS


# ------------------------------------------------------------------ optics


def _j1_series(x: np.ndarray) -> np.ndarray:
    """2 J1(x) / x by its power series: sum (-1)^k (x/2)^2k / (k! (k+1)!)."""
    q = (x / 2.0) ** 2
    term = np.ones_like(x)
    total = term.copy()
    for k in range(1, 40):
        term = term * (-q) / (k * (k + 1))
        total += term
    return total


def _j1_asymptotic(x: np.ndarray) -> np.ndarray:
    """2 J1(x) / x for large x (Hankel's expansion, mu = 4)."""
    p = 1.0 + 15.0 / (128.0 * x ** 2) - 14175.0 / (98304.0 * x ** 4)
    q = 3.0 / (8.0 * x) - 315.0 / (3072.0 * x ** 3)
    chi = x - 0.75 * math.pi
    j1 = np.sqrt(2.0 / (math.pi * x)) * (p * np.cos(chi) - q * np.sin(chi))
    return 2.0 * j1 / x


def jinc(x: np.ndarray) -> np.ndarray:
    """2 J1(x) / x (1 at 0): the Fourier transform of a uniform disc."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    small = x < 12.0
    out[small] = _j1_series(x[small])
    out[~small] = _j1_asymptotic(x[~small])
    return out


_TABLE = 8192
_RHO_MAX = math.sqrt(0.5)


def _transfer_table(blur: float, kind: str, sensor: float) -> np.ndarray:
    """A blur's transfer function on a fine radial grid of spatial frequency (cycles/px).

    ``kind`` "disc": a uniform disc of diameter ``blur``, seen through the
    sensor's own Gaussian of sigma ``sensor``; "gauss": a Gaussian of sigma
    ``blur`` (PIL's GaussianBlur radius, for legacy scenes).
    """
    rho = np.linspace(0.0, _RHO_MAX, _TABLE)
    if kind == "disc":
        sensor_tf = np.exp(-2.0 * (math.pi * sensor * rho) ** 2)
        return (jinc(math.pi * blur * rho) * sensor_tf).astype(np.float32)
    return np.exp(-2.0 * (math.pi * blur * rho) ** 2).astype(np.float32)


_GRIDS: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray | None]] = {}


def _grid(shape: tuple[int, int], step: int) -> tuple[np.ndarray, np.ndarray | None]:
    """For an rfft2 of ``shape``: each coefficient's index in the radial table, and
    (``step`` > 1) the phase that samples the middle of each ``step`` x ``step`` block."""
    key = (shape[0], shape[1], step)
    grid = _GRIDS.get(key)
    if grid is None:
        fy = np.fft.fftfreq(shape[0])[:, None]
        fx = np.fft.rfftfreq(shape[1])[None, :]
        rho = np.sqrt(fy * fy + fx * fx)
        index = np.minimum(np.rint(rho / _RHO_MAX * (_TABLE - 1)), _TABLE - 1).astype(np.int32)
        shift = None
        if step > 1:   # half a block less half a pixel, in this grid's pixels
            delta = 0.5 * (step - 1) / step
            shift = np.exp(2j * math.pi * delta * (fy + fx)).astype(np.complex64)
        grid = _GRIDS[key] = (index, shift)
    return grid


def disc_transfer(shape: tuple[int, int], blur: float, kind: str = "disc",
                  sensor: float = SENSOR_SIGMA) -> np.ndarray:
    """The rfft2-shaped transfer function of a disc of diameter ``blur`` px (or a Gaussian)."""
    return _transfer_table(blur, kind, sensor)[_grid(shape, 1)[0]]


def reduction(blur: float, kind: str, shape: tuple[int, int]) -> int:
    """How many times smaller a level of this blur can be kept: 1, 2, 4 or 8.

    A disc of diameter D passes little finer than about 1/D cycles per
    pixel, so a level is kept with at least 16 of its pixels across the
    disc (a Gaussian: 8 across its sigma) and drawn back up (``RESAMPLE``),
    when composited: the disc's edge stays within a few per cent.
    """
    width = blur if kind == "disc" else 2.0 * blur
    step = 1
    while step < 8 and width >= 16 * step and shape[0] % (4 * step) == 0 \
            and shape[1] % (4 * step) == 0:
        step *= 2
    return step


def level_value(n: int) -> float:
    """Blur of ladder level n: quarter pixels up to 4 px, then 8 % apart."""
    linear = int(LEVEL_LINEAR / LEVEL_STEP)
    if n <= linear:
        return n * LEVEL_STEP
    return LEVEL_LINEAR * LEVEL_RATIO ** (n - linear)


def level_of(blur: float) -> tuple[int, float]:
    """The ladder level just below ``blur`` and how far toward the next one it is."""
    blur = max(blur, 0.0)
    if blur <= LEVEL_LINEAR:
        f = blur / LEVEL_STEP
    else:
        f = LEVEL_LINEAR / LEVEL_STEP + math.log(blur / LEVEL_LINEAR) / math.log(LEVEL_RATIO)
    n = int(math.floor(f + 1e-9))
    frac = f - n
    return n, (0.0 if frac < 1e-6 else frac)


def _fast(n: int) -> int:
    """The next multiple of 16 >= n whose length FFTs fast (2, 3 and 5 its only factors)."""
    n = -(-n // 16) * 16
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 16


# ------------------------------------------------------------------ textures


def _spectral(h: int, w: int, rng: np.random.Generator, slope: float) -> np.ndarray:
    """Periodic noise with a 1/f^slope amplitude spectrum, mean 0 and std 1."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    rho = np.sqrt(fy * fy + fx * fx)
    rho[0, 0] = 1.0
    amp = rho ** (-slope)
    amp[0, 0] = 0.0
    spec = amp * np.exp(2j * math.pi * rng.random(amp.shape))
    img = np.fft.irfft2(spec, s=(h, w))
    return (img / max(float(img.std()), 1e-9)).astype(np.float32)


def _blocks(img: np.ndarray, rng: np.random.Generator, count: int, low: float, high: float,
            amplitude: float, periodic: bool) -> None:
    h, w = img.shape
    for _ in range(count):
        bh = max(2, int(rng.uniform(low, high) * h))
        bw = max(2, int(rng.uniform(low, high) * w))
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        value = float(rng.uniform(-amplitude, amplitude))
        if periodic:
            img[np.ix_((y + np.arange(bh)) % h, (x + np.arange(bw)) % w)] += value
        else:
            img[y:y + bh, x:x + bw] += value


def background_texture(h: int, w: int, rng: np.random.Generator, contrast: float,
                       mean: float) -> np.ndarray:
    """A far background, periodic: soft clouds, walls and window frames with hard edges."""
    img = 26.0 * _spectral(h, w, rng, 1.15)
    _blocks(img, rng, 14, 0.06, 0.35, 38.0, periodic=True)
    for _ in range(6):   # frames and poles: thin straight lines
        if rng.random() < 0.5:
            img[int(rng.integers(0, h)), :] += float(rng.uniform(-40, 40))
        else:
            img[:, int(rng.integers(0, w))] += float(rng.uniform(-40, 40))
    return np.clip(mean + contrast * img, 6.0, 249.0).astype(np.float32)


def subject_texture(h: int, w: int, rng: np.random.Generator, contrast: float,
                    mean: float) -> np.ndarray:
    """A detailed subject: fine texture, hard-edged patches and rows of print."""
    img = 24.0 * _spectral(h, w, rng, 0.75)
    _blocks(img, rng, 22, 0.05, 0.3, 45.0, periodic=False)
    for _ in range(max(4, h // 40)):
        rh = int(rng.integers(3, 7))
        rw = max(8, int(rng.uniform(0.15, 0.45) * w))
        y, x = int(rng.integers(0, max(1, h - rh))), int(rng.integers(0, max(1, w - rw)))
        marks = (rng.random((rh, rw)) > 0.5).astype(np.float32) * 80.0 - 40.0
        img[y:y + rh, x:x + rw] += marks
    return np.clip(mean + contrast * img, 6.0, 249.0).astype(np.float32)


def walker_texture(h: int, w: int, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """Someone's coat: darker, with folds and a few stripes."""
    img = 18.0 * _spectral(h, w, rng, 1.0)
    for _ in range(5):
        x = int(rng.integers(0, max(1, w - 4)))
        img[:, x:x + int(rng.integers(2, 6))] += float(rng.uniform(-35, 35))
    return np.clip(70.0 + contrast * img, 6.0, 249.0).astype(np.float32)


def legacy_texture(width: int, height: int, rng: np.random.Generator,
                   contrast: float = 1.0) -> np.ndarray:
    """The legacy test scene: multi-scale clouds, hard-edged blocks and fine print.

    ``contrast`` scales the texture about mid-grey: 0 is a blank wall.
    """
    img = np.zeros((height, width), dtype=np.float32)
    for cell, amplitude in ((64, 60.0), (24, 40.0), (8, 30.0), (3, 20.0)):
        small = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        layer = Image.fromarray(small * 255.0, mode="F").resize(
            (width + 2 * cell, height + 2 * cell), Image.BILINEAR)
        img += amplitude * (np.asarray(layer)[cell:cell + height, cell:cell + width] / 255.0)
    for _ in range(30):
        w = int(rng.integers(6, width // 4))
        h = int(rng.integers(6, height // 4))
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(0, height - h))
        img[y:y + h, x:x + w] += float(rng.uniform(-50, 50))
    # rows of fine marks, like print on a label: high spatial frequencies
    for _ in range(6):
        y = int(rng.integers(0, height - 8))
        x = int(rng.integers(0, width - 80))
        marks = (rng.random((6, 80)) > 0.5).astype(np.float32) * 70.0 - 35.0
        img[y:y + 6, x:x + 80] += marks
    img -= img.min()
    img *= 190.0 * contrast / max(float(img.max()), 1e-6)
    img += 125.0 - 95.0 * contrast
    return img.astype(np.uint8)


# ------------------------------------------------------------------ plates


class _Cache:
    """Blurred levels, least recently used out first, within a byte budget."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.bytes = 0
        self.items: OrderedDict[Any, tuple[np.ndarray, ...]] = OrderedDict()
        self.misses = 0

    def get(self, key: Any, make: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        item = self.items.get(key)
        if item is not None:
            self.items.move_to_end(key)
            return item
        self.misses += 1
        item = make()
        self.items[key] = item
        self.bytes += sum(a.nbytes for a in item)
        while self.bytes > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.bytes -= sum(a.nbytes for a in old)
        return item

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


@dataclass
class Plate:
    """One layer's picture on its own canvas, ready to be blurred.

    ``x0, y0`` is where the canvas's corner is in the world (frame pixels
    at the start, before any dolly, pan or breathing).  A periodic plate
    (the background) repeats forever; another has a transparent margin wide
    enough for its largest blur.
    """

    name: str
    texture: np.ndarray
    x0: float = 0.0
    y0: float = 0.0
    alpha: np.ndarray | None = None       # None: opaque everywhere
    periodic: bool = False
    kind: str = "disc"                    # "disc" or "gauss" (legacy)
    margin: int = 0                       # transparent pixels around a sprite's picture
    core: np.ndarray | None = None        # a sprite's picture without its margin
    _spectra: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def capacity(self) -> float:
        """The widest blur that stays inside the margin (disc diameter, or Gaussian sigma)."""
        if self.periodic:
            return math.inf
        room = max(self.margin - 3, 0)
        return 2.0 * room if self.kind == "disc" else room / 3.0

    def widened(self, blur: float, cap: int) -> "Plate":
        """The same sprite with a margin wide enough for ``blur`` (and some more)."""
        assert self.core is not None
        need = 1.5 * blur / 2.0 if self.kind == "disc" else 1.5 * 3.0 * blur
        margin = min(int(math.ceil(need)) + 3, cap)
        return _sprite(self.name, self.core, self.x0 + self.margin, self.y0 + self.margin,
                       margin, self.kind)

    @property
    def shape(self) -> tuple[int, int]:
        return self.texture.shape  # type: ignore[return-value]

    def spectra(self) -> list[np.ndarray]:
        if self._spectra is None:
            if self.alpha is None:
                channels = [self.texture]
            else:
                channels = [self.texture * self.alpha, self.alpha]
            self._spectra = [np.fft.rfft2(c.astype(np.float32)) for c in channels]
        return self._spectra

    def blurred(self, n: int, step: int = 1) -> tuple[np.ndarray, ...]:
        """The plate at blur level ``n``: (premultiplied picture[, alpha]).

        With ``step`` > 1, at 1/step of the size: the middle of each step x
        step block of the blurred plate, taken straight from its spectrum.
        """
        blur = level_value(n)
        h, w = self.shape
        if step == 1:
            tf = disc_transfer((h, w), blur, self.kind)
            out = [np.fft.irfft2(c * tf, s=(h, w)).astype(np.float32, copy=False)
                   for c in self.spectra()]
        else:
            sh, sw = h // step, w // step
            rows = np.r_[0:sh // 2, h - sh // 2:h]
            index, shift = _grid((sh, sw), step)
            tf = _transfer_table(blur / step, self.kind, SENSOR_SIGMA / step)[index] * shift
            out = [(np.fft.irfft2(c[rows, :sw // 2 + 1] * tf, s=(sh, sw))
                    / (step * step)).astype(np.float32, copy=False) for c in self.spectra()]
        if len(out) == 2:
            np.clip(out[1], 0.0, 1.0, out=out[1])
            np.maximum(out[0], 0.0, out=out[0])
        return tuple(out)


def _sprite(name: str, texture: np.ndarray, x: float, y: float, margin: int,
            kind: str) -> Plate:
    """A texture with a transparent margin around it, placed with its corner at (x, y)."""
    h, w = texture.shape
    ch, cw = _fast(h + 2 * margin), _fast(w + 2 * margin)
    canvas = np.zeros((ch, cw), dtype=np.float32)
    alpha = np.zeros((ch, cw), dtype=np.float32)
    canvas[margin:margin + h, margin:margin + w] = texture
    alpha[margin:margin + h, margin:margin + w] = 1.0
    return Plate(name, canvas, x - margin, y - margin, alpha=alpha, kind=kind, margin=margin,
                 core=texture)


def _take(a: np.ndarray, y0: int, y1: int, x0: int, x1: int, periodic: bool) -> np.ndarray:
    """``a[y0:y1, x0:x1]``, wrapping around if periodic (the caller keeps it inside if not)."""
    h, w = a.shape
    if 0 <= y0 and y1 <= h and 0 <= x0 and x1 <= w:
        return a[y0:y1, x0:x1]
    if not periodic:
        raise ValueError("window outside a plate")
    return a.take(np.arange(y0, y1) % h, axis=0).take(np.arange(x0, x1) % w, axis=1)


def _lerp(a: np.ndarray, b: np.ndarray | None, f: float) -> np.ndarray:
    if b is None or f == 0.0:
        return a
    return a + (b - a) * np.float32(f)


@dataclass(frozen=True)
class _Levels:
    """The two cached blur levels either side of the blur wanted, and how to mix them."""

    a: tuple[np.ndarray, ...]
    b: tuple[np.ndarray, ...] | None
    f: float            # 0: all a; 1: all b
    step: int           # the levels are this many times smaller than the plate

    def window(self, y0: int, y1: int, x0: int, x1: int, periodic: bool,
               channels: int = 1) -> Any:
        """Rows y0..y1, columns x0..x1 of the mix (a tuple when ``channels`` is 2)."""
        out = []
        for c in range(channels):
            a = _take(self.a[c], y0, y1, x0, x1, periodic)
            b = None if self.b is None else _take(self.b[c], y0, y1, x0, x1, periodic)
            out.append(_lerp(a, b, self.f))
        return out[0] if channels == 1 else tuple(out)


# ------------------------------------------------------------------ view


class View:
    """The live view: draws the scene as the lens at ``x`` sees it at ``t``.

    ``rng`` is the body's own generator: a legacy profile draws its sensor
    noise from it exactly as it always did, so its frames are unchanged.
    """

    def __init__(self, profile: Profile, scene: Scene, rng: np.random.Generator) -> None:
        self.profile = profile
        self.scene = scene
        self.rng = rng
        self.cache = _Cache()
        self.w, self.h = profile.width, profile.height
        self.optics = profile.optics
        self.cap = min(self.w, self.h) / 3.0      # the widest blur drawn (px)
        # Flicker and the layered noise draw from streams of their own.
        self._flicker_rng = np.random.default_rng(profile.seed + 15485863)
        self._noise_rng = np.random.default_rng(profile.seed + 32452843)
        self.build(profile.seed + 7919)

    # -- building
    def build(self, seed: int) -> None:
        """Make the textures from ``seed`` (again, with another: the camera looks elsewhere)."""
        p = self.profile
        self.cache.clear()
        self.legacy_blurred: OrderedDict[float, np.ndarray] = OrderedDict()
        if self.optics is None:
            self.legacy_texture = legacy_texture(self.w, self.h, np.random.default_rng(seed),
                                                 p.contrast)
            self.legacy_bank = [
                np.random.default_rng(p.seed + 31 * i).standard_normal(
                    (self.h, self.w)).astype(np.float32) for i in range(8)]
            self.plates: list[Plate] = []
            self.kind = "gauss"
        else:
            self.kind = "disc"
            self.plates = self._layer_plates(seed)
            self.bank = [np.random.default_rng(p.seed + 31 * i).standard_normal(
                (self.h + 32, self.w + 32)).astype(np.float32) for i in range(4)]
        self._walker: Plate | None = None
        self._walker_seed = seed + 104723

    def _margin(self, blur: float = 0.0) -> int:
        """A sprite margin for a blur (disc diameter) up to ``blur``, at most the cap's."""
        return int(math.ceil(min(max(blur, 2.0), self.cap) / 2.0)) + 3

    def _layer_plates(self, seed: int) -> list[Plate]:
        p = self.profile
        rng = np.random.default_rng(seed)
        w, h = self.w, self.h
        plates = []
        bg_mean = float(rng.uniform(95, 150))
        for i, layer in enumerate(p.layers):
            contrast = layer.contrast * p.contrast
            if layer.box is None:
                tex = background_texture(h, w, rng, contrast, bg_mean)
                plates.append(Plate(f"layer{i}", tex, periodic=True))
                continue
            bx, by, bw, bh = layer.box
            x0, y0 = int(round(bx * w)), int(round(by * h))
            x1, y1 = max(x0 + 1, int(round((bx + bw) * w))), max(y0 + 1, int(round((by + bh) * h)))
            side = 1 if rng.random() < 0.5 else -1
            mean = float(np.clip(bg_mean + side * rng.uniform(40, 70), 50, 200))
            tex = subject_texture(y1 - y0, x1 - x0, rng, contrast, mean)
            # room for the widest blur it gets at its distance (more when it moves)
            depth = 1.0 / layer.distance_m
            widest = self.optics.disc_px_per_dioptre(w) * max(
                depth, abs(self.optics.near_dioptres - depth))
            plates.append(_sprite(f"layer{i}", tex, x0, y0, self._margin(1.2 * widest), "disc"))
        return plates

    def walker_plate(self) -> Plate:
        if self._walker is None:
            bw = max(4, int(round(WALKER_WIDTH * self.w)))
            bh = int(round(1.2 * self.h))
            # as much texture as the scene has (none in a blank scene)
            contrast = self.profile.contrast * max([lay.contrast for lay in self.profile.layers],
                                                   default=1.0)
            tex = walker_texture(bh, bw, np.random.default_rng(self._walker_seed), contrast)
            self._walker = _sprite("walker", tex, 0.0, -0.1 * self.h, self._margin(), self.kind)
        return self._walker

    # -- blur
    def _blur_px(self, x: float, dioptres: float) -> float:
        """Disc diameter (optics) or Gaussian sigma (legacy), in frame pixels."""
        if self.optics is None:
            sharp = self.scene.sharp_position(dioptres)
            return self.profile.blur_per_step * abs(x - sharp)
        focus = self.optics.dioptres(x, float(self.profile.steps))
        return self.optics.disc_px_per_dioptre(self.w) * abs(dioptres - focus)

    def _fit(self, plate: Plate, blur: float) -> Plate:
        """``plate``, or a copy with a margin wide enough for ``blur`` (kept from now on)."""
        blur = min(blur, self.cap)
        if level_value(level_of(blur)[0] + 1) <= plate.capacity:
            return plate
        wider = plate.widened(level_value(level_of(blur)[0] + 1), self._margin(self.cap))
        if plate is self._walker:
            self._walker = wider
        else:
            self.plates[self.plates.index(plate)] = wider
        return wider

    def _levels(self, plate: Plate, blur: float) -> "_Levels":
        n, f = level_of(min(blur, self.cap))
        step = reduction(level_value(n), plate.kind, plate.shape)
        key = (plate.name, plate.margin, step)
        a = self.cache.get(key + (n,), lambda: plate.blurred(n, step))
        b = None if f == 0.0 else self.cache.get(key + (n + 1,),
                                                 lambda: plate.blurred(n + 1, step))
        return _Levels(a, b, f, step)

    # -- drawing
    #
    # Each layer goes straight into the frame: frame pixel u shows the world
    # at X = (u + pan - cx) / K + cx, with K the layer's own scale (a dolly, a
    # move in depth) times the breathing.  A layer at scale 1 with a whole-pixel
    # pan and a full-size level is cut out, not resampled.

    def picture(self, x: float, t: float) -> np.ndarray:
        """The frame before light, flicker and noise: float32 grey levels."""
        scene = self.scene
        walkers = scene.walkers_at(t)
        scales = scene.layer_scales(t)
        pan = scene.pan.at(t)
        if self.optics is None:
            base = self._legacy_base(x, t)
            if scene.still and not walkers:
                return base                   # exactly the legacy picture
            breath = 1.0
            frame = self._periodic(_Levels((base,), None, 0.0, 1), scales[-1], pan)
        else:
            breath = self.optics.scale(x, float(self.profile.steps))
            frame = None
            for plate, depth, k in zip(list(self.plates), scene.layer_dioptres(t), scales):
                blur = self._blur_px(x, depth) / (k * breath)
                plate = self._fit(plate, blur)
                levels = self._levels(plate, blur)
                if plate.periodic:
                    frame = self._periodic(levels, k * breath, pan)
                else:
                    assert frame is not None, "the first layer fills the frame"
                    self._sprite(frame, levels, k * breath, pan, plate, plate.x0, plate.y0)
        assert frame is not None
        for f_across, depth, k in walkers:
            blur = self._blur_px(x, depth) / (k * breath)
            plate = self._fit(self.walker_plate(), blur)
            width = plate.shape[1]
            # from just off the left edge to just off the right, whatever the pan,
            # in whole pixels (a fraction would be resampled, and blur the walker)
            x0 = float(round(-width + f_across * (self.w + width)))
            self._sprite(frame, self._levels(plate, blur), k * breath, 0.0, plate, x0, plate.y0)
        return frame

    def _legacy_base(self, x: float, t: float) -> np.ndarray:
        """The legacy plane, Gaussian-blurred as it always was (cached by radius)."""
        radius = round(self.profile.blur_per_step * abs(x - self.scene.subject_position(t)), 2)
        base = self.legacy_blurred.get(radius)
        if base is None:
            img = Image.fromarray(self.legacy_texture)
            if radius > 0:
                img = img.filter(ImageFilter.GaussianBlur(radius))
            base = np.asarray(img, dtype=np.float32)
            self.legacy_blurred[radius] = base
            if len(self.legacy_blurred) > 256:
                self.legacy_blurred.popitem(last=False)
        else:
            self.legacy_blurred.move_to_end(radius)
        return base

    def _periodic(self, levels: "_Levels", k: float, pan: float) -> np.ndarray:
        """A repeating layer as the whole frame: scaled by k about the centre, panned."""
        w, h = self.w, self.h
        cx, cy = w / 2.0, h / 2.0
        step = levels.step
        if k == 1.0 and step == 1 and float(pan).is_integer():
            ix = int(pan)
            return np.array(levels.window(0, h, ix, ix + w, True), dtype=np.float32)
        sx0, sx1 = ((pan - cx) / k + cx) / step, ((w + pan - cx) / k + cx) / step
        sy0, sy1 = (-cy / k + cy) / step, ((h - cy) / k + cy) / step
        x0, x1 = int(math.floor(sx0)) - 3, int(math.ceil(sx1)) + 3     # room for the kernel
        y0, y1 = int(math.floor(sy0)) - 3, int(math.ceil(sy1)) + 3
        win = np.ascontiguousarray(levels.window(y0, y1, x0, x1, True), dtype=np.float32)
        img = Image.fromarray(win, mode="F").resize(
            (w, h), RESAMPLE, box=(sx0 - x0, sy0 - y0, sx1 - x0, sy1 - y0))
        return np.array(img, dtype=np.float32)

    def _sprite(self, frame: np.ndarray, levels: "_Levels", k: float, pan: float,
                plate: Plate, x0: float, y0: float) -> None:
        """Composite a plate (its corner at x0, y0 in the world) over the frame."""
        w, h = self.w, self.h
        cx, cy = w / 2.0, h / 2.0
        ph, pw = plate.shape
        step = levels.step
        # the plate's footprint in the frame, then the part of the plate that maps onto it
        u0 = max(0, math.ceil(cx + k * (x0 - cx) - pan - 1e-9))
        u1 = min(w, math.floor(cx + k * (x0 + pw - cx) - pan + 1e-9))
        v0 = max(0, math.ceil(cy + k * (y0 - cy) - 1e-9))
        v1 = min(h, math.floor(cy + k * (y0 + ph - cy) + 1e-9))
        if u1 <= u0 or v1 <= v0:
            return
        sx0, sx1 = (u0 + pan - cx) / k + cx - x0, (u1 + pan - cx) / k + cx - x0
        sy0, sy1 = (v0 - cy) / k + cy - y0, (v1 - cy) / k + cy - y0
        if k == 1.0 and step == 1 and float(sx0).is_integer() and float(sy0).is_integer():
            ix, iy = int(sx0), int(sy0)
            premult, alpha = levels.window(iy, iy + v1 - v0, ix, ix + u1 - u0, False,
                                           channels=2)
        else:
            lim_x, lim_y = pw / step, ph / step
            sx0, sx1 = max(sx0 / step, 0.0), min(sx1 / step, lim_x)
            sy0, sy1 = max(sy0 / step, 0.0), min(sy1 / step, lim_y)
            # the window with room for the kernel's lobes (3 pixels) where the plate has it
            wx0, wx1 = max(0, int(math.floor(sx0)) - 3), min(pw // step, int(math.ceil(sx1)) + 3)
            wy0, wy1 = max(0, int(math.floor(sy0)) - 3), min(ph // step, int(math.ceil(sy1)) + 3)
            box = (sx0 - wx0, sy0 - wy0, sx1 - wx0, sy1 - wy0)
            out = []
            for win in levels.window(wy0, wy1, wx0, wx1, False, channels=2):
                img = Image.fromarray(np.ascontiguousarray(win, dtype=np.float32),
                                      mode="F").resize((u1 - u0, v1 - v0), RESAMPLE,
                                                       box=box)
                out.append(np.array(img, dtype=np.float32))
            premult, alpha = out
            np.clip(alpha, 0.0, 1.0, out=alpha)      # Lanczos rings a little at edges
            np.maximum(premult, 0.0, out=premult)
        region = frame[v0:v1, u0:u1]
        region -= region * alpha
        region += premult

    # -- finishing
    def gain(self, t: float) -> float:
        g = self.scene.light.at(t)
        if self.profile.flicker > 0:
            g *= max(1.0 + self.profile.flicker * float(self._flicker_rng.standard_normal()), 0.0)
        return g

    def jpeg(self, x: float, t: float) -> bytes:
        """The frame as the camera sends it."""
        p = self.profile
        frame = self.picture(x, t)
        g = self.gain(t)
        if g != 1.0:
            frame = frame * np.float32(g)
        if p.noise > 0:
            if self.optics is None:   # exactly as the legacy simulator did
                bank = self.legacy_bank[int(self.rng.integers(len(self.legacy_bank)))]
                dy, dx = (int(v) for v in self.rng.integers(0, (p.height, p.width)))
                frame = frame + p.noise * np.roll(bank, (dy, dx), axis=(0, 1))
            else:
                bank = self.bank[int(self._noise_rng.integers(len(self.bank)))]
                dy, dx = (int(v) for v in self._noise_rng.integers(0, 32, size=2))
                frame = frame + np.float32(p.noise) * bank[dy:dy + self.h, dx:dx + self.w]
        out = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), mode="L")
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=JPEG_QUALITY)
        return buf.getvalue()
