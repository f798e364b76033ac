"""Small line charts drawn with Pillow, for docs and for operators.

rig draws its few pictures itself (a calibration's focus curve, AF curves)
rather than pulling in a plotting library: a chart here is a few lines,
axes with round ticks and a legend, and Pillow is already a dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from .autofocus import AFResult
    from .calibration import Calibration

__all__ = ["Series", "Chart", "line_chart", "stack", "calibration_figure", "autofocus_figure"]

FONT = ImageFont.load_default_imagefont()
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))


@dataclass
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    colour: tuple[int, int, int] | None = None
    dots: bool = False      # mark each point (measured samples), as well as the line


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)  # vertical lines
    legend: str = "right"       # or "left": the top corner the legend goes in


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2g}"


def line_chart(chart: Chart, size: tuple[int, int] = (720, 300)) -> Image.Image:
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 56, 16, 28, 40
    x0, y0, x1, y1 = left, top, width - right, height - bottom
    xs = [x for s in chart.series for x in s.xs]
    ys = [y for s in chart.series for y in s.ys]
    xlo, xhi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    ylo, yhi = (min(0.0, min(ys)), max(ys)) if ys else (0.0, 1.0)
    yhi = yhi if yhi > ylo else ylo + 1.0
    xt, yt = _ticks(xlo, xhi), _ticks(ylo, yhi * 1.05)
    xlo, xhi = min(xlo, xt[0]), max(xhi, xt[-1])
    ylo, yhi = min(ylo, yt[0]), max(yhi * 1.05, yt[-1])

    def px(x: float) -> float:
        return x0 + (x1 - x0) * (x - xlo) / (xhi - xlo or 1)

    def py(y: float) -> float:
        return y1 - (y1 - y0) * (y - ylo) / (yhi - ylo or 1)

    for t in xt:
        draw.line((px(t), y0, px(t), y1), fill=(235, 235, 235))
        draw.text((px(t) - 3 * len(_fmt(t)), y1 + 4), _fmt(t), font=FONT, fill="black")
    for t in yt:
        draw.line((x0, py(t), x1, py(t)), fill=(235, 235, 235))
        draw.text((x0 - 6 * len(_fmt(t)) - 4, py(t) - 5), _fmt(t), font=FONT, fill="black")
    draw.rectangle((x0, y0, x1, y1), outline="black")
    for j, (x, label) in enumerate(chart.marks):
        draw.line((px(x), y0, px(x), y1), fill=(120, 120, 120))
        at = px(x) + 3 if px(x) + 3 + 6 * len(label) < x1 else px(x) - 3 - 6 * len(label)
        draw.text((at, y0 + 3 + 12 * j), label, font=FONT, fill=(90, 90, 90))  # one a line
    for i, s in enumerate(chart.series):
        colour = s.colour or COLOURS[i % len(COLOURS)]
        points = [(px(x), py(y)) for x, y in zip(s.xs, s.ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2 if not s.dots else 1)
        for x, y in points if s.dots or len(points) == 1 else ():
            r = 3 if s.dots else 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        widest = max(len(t.label) for t in chart.series)
        lx = x1 - 30 - 6 * widest if chart.legend == "right" else x0 + 10
        ly = y0 + 18 + 12 * i
        draw.line((lx, ly + 5, lx + 16, ly + 5), fill=colour, width=2)
        draw.text((lx + 20, ly), s.label, font=FONT, fill="black")
    draw.text((x0, 8), chart.title, font=FONT, fill="black")
    draw.text(((x0 + x1) // 2 - 3 * len(chart.x_label), height - 16), chart.x_label,
              font=FONT, fill="black")
    label = Image.new("RGB", (6 * len(chart.y_label) + 4, 12), "white")
    ImageDraw.Draw(label).text((2, 0), chart.y_label, font=FONT, fill="black")
    img.paste(label.rotate(90, expand=True), (4, (y0 + y1) // 2 - 3 * len(chart.y_label)))
    return img


def stack(images: Sequence[Image.Image]) -> Image.Image:
    """Pictures one above the other."""
    width = max(i.width for i in images)
    out = Image.new("RGB", (width, sum(i.height for i in images)), "white")
    y = 0
    for i in images:
        out.paste(i, (0, y))
        y += i.height
    return out


def calibration_figure(cal: "Calibration") -> Image.Image:
    """What a calibration found: the sharpness and encoder curves, and the drive."""
    extra = cal.extra
    panels = []
    focus = extra.get("focus_curve")
    if focus:
        steps = list(range(len(focus)))
        panels.append(line_chart(Chart(
            f"{cal.lens} on {cal.camera}: sharpness during the reference sweep",
            "position (size-1 steps from the near stop)", "sharpness",
            [Series("focus measure", steps, focus)],
            [(extra.get("subject_step", 0), "sharpest"), (cal.steps, "far stop")])))
    sens = extra.get("sensitivity")
    if sens:
        panels.append(line_chart(Chart(
            "how much the picture changes per step: where placement is precise",
            "position (size-1 steps from the near stop)", "change per step",
            [Series("encoder sensitivity", list(range(len(sens))), sens)])))
    text = Image.new("RGB", (720, 20 + 14 * len(cal.drive)), "white")
    draw = ImageDraw.Draw(text)
    draw.text((56, 4), f"range {cal.steps} steps; call latency {cal.latency_ms:.1f} "
                       f"+/- {cal.latency_jitter_ms:.1f} ms", font=FONT, fill="black")
    for i, d in enumerate(sorted(cal.drive, key=lambda d: d.size)):
        move = f", moves for {1000 * d.move_s:.1f} ms" if d.move_s else ""
        draw.text((56, 18 + 14 * i), f"size {d.size}: {d.steps:g} steps per command, "
                                     f"sustained {d.speed:.1f} steps/s{move}",
                  font=FONT, fill="black")
    panels.append(text)
    return stack(panels)


def autofocus_figure(result: "AFResult", subject: float | None = None) -> Image.Image:
    """An autofocus run: the coarse scan, then the fine sweep with its fitted peak.

    ``subject`` (the simulator's truth, for docs and benchmarks) adds a mark.
    """
    coarse = sorted((s for s in result.samples if s.stage == "coarse"), key=lambda s: s.position)
    fine = sorted((s for s in result.samples if s.stage == "fine"), key=lambda s: s.position)
    check = [s for s in result.samples if s.stage == "check"]
    truth = [] if subject is None else [(subject, f"subject {subject:g}")]
    panels = []
    if coarse:
        top_b = max(s.broad for s in coarse) or 1.0
        top_s = max(s.sharp for s in coarse) or 1.0
        xs = [s.position for s in coarse]
        marks = truth + ([] if result.coarse is None else
                         [(result.coarse, f"estimate {result.coarse:.1f}")])
        panels.append(line_chart(Chart(
            f"coarse scan: {len(coarse)} frames from the {'near' if xs[0] == 0 else 'far'} "
            "stop until a measure has passed its peak",
            "position (size-1 steps from the near stop)", "share of the best",
            [Series("broad measure", xs, [s.broad / top_b for s in coarse], dots=True),
             Series("sharp measure", xs, [s.sharp / top_s for s in coarse], dots=True)],
            marks, legend="left")))
    if fine:
        fit = result.fit
        xs = [s.position for s in fine]
        measure = fit.measure if fit is not None else "sharp"
        series = [Series("fine frames", xs, [s.value(measure) for s in fine], dots=True)]
        marks = list(truth)
        if fit is not None:
            lo, hi = min(xs), max(xs)
            dense = [lo + (hi - lo) * i / 100 for i in range(101)]
            series.append(Series("Gaussian fit", dense, [fit.sharp_at(x) for x in dense]))
            marks.append((fit.center, f"peak {fit.center:.1f}"))
        if check:
            series.append(Series("last look", [check[0].position], [check[0].value(measure)],
                                 dots=True))
        verdict = "focused" if result.ok else f"failed: {result.reason}"
        panels.append(line_chart(Chart(
            f"fine sweep and fit: {verdict}; {result.frames} frames, {result.moves} moves, "
            f"{result.duration_s:.1f} s", "position (size-1 steps from the near stop)",
            f"{measure} measure", series, marks, legend="left")))
    if not panels:
        panels.append(line_chart(Chart(f"autofocus: {result.reason}", "position", "", [])))
    return stack(panels)
