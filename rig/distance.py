"""An estimate of the focus distance from the lens position: "~54cm", "~2.3m", "~inf".

A Canon over USB tells rig nothing about distance.  But 1/distance is close
to linear in the focus position between the stops (the lens-realism issue;
the simulator's optics use the same law, docs/simulator.md), so the closest
focusing distance ``m`` of the lens (its spec sheet) and the range ``R`` in
steps give::

    1/d(x) = (1/m) * (1 - x/R)        x = 0: the near stop, d = m
                                      x = R: the far stop, d = infinity

It is an estimate ("~"): a real lens is not exactly linear, and a lens's
far stop lies a little beyond infinity.  Nothing is shown when the closest
distance is unknown: a lens not in :data:`MIN_FOCUS_M`, and none set with
``rig lenses set LENS --min-focus M`` (stored in that lens's profile as
``min_focus_m``).

The format follows the Magic Lantern module, which showed "54cm",
"16.470m" and "inf." next to every point; ours is shorter, for the OLED,
and marked as an estimate.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["distance_m", "format_distance", "estimate", "min_focus", "min_focus_for",
           "describe_min_focus", "MIN_FOCUS_M", "MIN_FOCUS_RANGE", "KEY"]

KEY = "min_focus_m"                  # in a lens profile (the calibration JSON)
MIN_FOCUS_RANGE = (0.01, 20.0)       # metres: from a macro lens to a long telephoto
FAR_M = 100.0                        # at or beyond this, "~inf"

#: Closest focusing distance (metres) of common prime lenses, by the name the
#: camera reports, from each maker's published specifications (Canon's,
#: Nikon's and Sony's product pages and lens manuals: "closest focusing
#: distance" / "minimum focus distance").  Zoom lenses are left out on
#: purpose: the relation between position and distance changes with the
#: focal length, so one number would mislead; set one with ``rig lenses set``
#: if you accept that.
MIN_FOCUS_M: dict[str, float] = {
    # Canon EF (Canon's specifications)
    "EF 24mm f/2.8 IS USM": 0.20,
    "EF 24mm f/1.4L II USM": 0.25,
    "EF 35mm f/2 IS USM": 0.24,
    "EF 40mm f/2.8 STM": 0.30,
    "EF 50mm f/1.8 STM": 0.35,
    "EF 50mm f/1.4 USM": 0.45,
    "EF 85mm f/1.8 USM": 0.85,
    "EF 100mm f/2.8L Macro IS USM": 0.30,
    "EF-S 24mm f/2.8 STM": 0.16,
    # Canon RF
    "RF 50mm F1.8 STM": 0.30,
    "RF 35mm F1.8 Macro IS STM": 0.17,
    # Nikon F (Nikon's specifications)
    "AF-S NIKKOR 50mm f/1.8G": 0.45,
    "AF-S NIKKOR 35mm f/1.8G ED": 0.25,
    # Sony E (Sony's specifications)
    "FE 50mm F1.8": 0.45,
    "FE 85mm F1.8": 0.80,
    "FE 35mm F1.8": 0.22,
    # Fujifilm GF (Fujifilm's specifications)
    "GF63mmF2.8 R WR": 0.50,
}

_MAKERS = ("canon", "nikon", "sony", "fujifilm", "fujinon")


def _key(name: str) -> str:
    """A lens name without the maker, case, spaces and punctuation ("EF24mm f/2.8 IS USM"
    and "Canon EF 24mm F2.8 IS USM" are the same lens)."""
    text = name.lower()
    for maker in _MAKERS:
        text = re.sub(rf"\b{maker}\b", " ", text)
    return re.sub(r"[^a-z0-9.]+", "", text)


_TABLE = {_key(name): metres for name, metres in MIN_FOCUS_M.items()}


def min_focus_for(lens: str) -> float | None:
    """The closest focusing distance of ``lens`` from the table, or None."""
    return _TABLE.get(_key(lens))


def min_focus(cal: Any) -> float | None:
    """A lens profile's closest focusing distance: its own ``min_focus_m`` if set,
    else the table's for its name, else None."""
    if cal is None:
        return None
    own = cal.extra.get(KEY) if isinstance(getattr(cal, "extra", None), dict) else None
    if isinstance(own, (int, float)) and not isinstance(own, bool) and own > 0:
        return float(own)
    return min_focus_for(getattr(cal, "lens", ""))


def distance_m(position: float, steps: int, min_focus_m: float) -> float:
    """The estimated focus distance at ``position`` (steps from the near stop)."""
    if steps <= 0 or min_focus_m <= 0:
        raise ValueError("needs a range and a closest distance")
    share = 1.0 - min(max(position, 0.0), float(steps)) / steps
    return math.inf if share <= 0 else min_focus_m / share


def format_distance(metres: float) -> str:
    """"~54cm", "~2.3m", "~16m", "~inf": short enough for the OLED."""
    if math.isinf(metres) or metres >= FAR_M:
        return "~inf"
    cm = round(metres * 100)
    if cm < 100:
        return f"~{cm}cm"
    if round(metres, 1) < 10:
        return f"~{metres:.1f}m"
    return f"~{metres:.0f}m"


def estimate(position: float | None, steps: int | None, min_focus_m: float | None) -> str:
    """The text to show next to a position, or "" when it cannot be estimated."""
    if position is None or not steps or not min_focus_m:
        return ""
    return format_distance(distance_m(position, steps, min_focus_m))


def describe_min_focus(cal: Any) -> str:
    """Where the closest distance of a profile comes from, for ``rig lenses``."""
    own = cal.extra.get(KEY)
    if own:
        return f"closest focus {own:g} m (set for this lens)"
    table = min_focus_for(cal.lens)
    if table:
        return f"closest focus {table:g} m (rig's table of lenses)"
    return "closest focus unknown: no distance shown (rig lenses set LENS --min-focus M)"
