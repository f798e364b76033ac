"""The seed's autofocus, as the benchmark's baseline (``bench/af.py``).

The 2016 tethered-AF post (``../shared/seeds/tethered-autofocus-blog.md``):
"move from one end of the focus range to the other and estimate the focus
for each frame.  After finding the peak value in that range, we move around
that point in smaller steps until the maximum peak is found."  Here, as rig
did it before issue 6:

1. from the near stop, a frame after every command of the largest size, to
   the far stop;
2. around the best frame, a frame after every command of the middle size
   over two large steps; then size 1 over two middle steps;
3. go to the best frame, from the near side.

The focus measure is rig's sharp one (variance of a Laplacian) on the same
region, with the same settling time before each frame as rig's autofocus.
Like the post, it has no notion of failure: it always ends on its best frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.lens import FAR, Lens
from rig.vision import focus_measure, grey


@dataclass
class SeedResult:
    ok: bool
    position: int
    frames: int
    commands: int
    moves: int
    duration_s: float


def seed_autofocus(lens: Lens, roi: tuple[float, float, float, float],
                   settle_s: float = 0.1) -> SeedResult:
    model = lens.model
    assert model is not None and lens.position is not None
    frames0, commands0, t0 = lens.frames, lens.commands, lens.clock.now()
    sizes = sorted(model.drives, key=lambda d: d.steps)
    big, mid, unit = sizes[-1], sizes[len(sizes) // 2], sizes[0]
    moves = 0

    def go(target: int) -> None:
        nonlocal moves
        if lens.position is not None and round(lens.position) != target:
            lens.move_to(target)
            moves += 1

    def measure() -> float:
        lens.wait_free()
        lens.clock.sleep(settle_s)
        return focus_measure(grey(lens.frame(), 320), roi)

    def sweep(lo: int, hi: int, size: int) -> list[tuple[int, float]]:
        nonlocal moves
        go(lo)
        step = model.drive(size).steps
        curve = [(round(lens.position), measure())]
        while lens.position + step <= hi + 1e-9:
            lens.wait_free()
            lens.send(size, FAR)
            moves += 1
            curve.append((round(lens.position), measure()))
        return curve

    best = max(sweep(0, model.steps, big.size), key=lambda pv: pv[1])[0]
    for d, span in ((mid, 2 * big.steps), (unit, 2 * mid.steps)):
        lo = max(0, best - round(span) // 2)
        hi = min(model.steps, best + round(span) // 2)
        best = max(sweep(lo, hi, d.size), key=lambda pv: pv[1])[0]
    go(max(0, best - round(mid.steps)))
    go(best)
    return SeedResult(True, round(lens.position), lens.frames - frames0,
                      lens.commands - commands0, moves, lens.clock.now() - t0)
