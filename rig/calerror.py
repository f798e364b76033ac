"""Why a calibration refused: the fixed set of causes, and the refusal that names one.

Every calibration method and phase (:mod:`rig.calibrate` and the phase
modules it runs) refuses with a :class:`CalibrationError` whose ``cause``
is one of :data:`CAUSES`; ``docs/calibration.md`` lists them.
"""

from __future__ import annotations

from .calibration import Calibration
from .lens import LensError

__all__ = ["CAUSES", "CalibrationError"]


# Why a calibration refused: the fixed set of causes (docs/calibration.md).
CAUSES = {
    "mf": "the lens does not move when driven (lens switch on MF, or a mode that "
          "does not let the host drive focus)",
    "detail": "the picture shows too little detail to measure the lens by",
    "scene": "the picture changed while the lens stood still (the scene or the camera moved)",
    "camera": "the camera stopped answering, or failed a call",
    "timing": "drive commands could not be timed: none ran reliably at any spacing",
    "precision": "the measurements were too noisy, or disagreed with each other",
    "check": "the result, checked by driving the lens, disagreed with what it predicts",
    "interrupted": "stopped by the operator (Ctrl-C) or by the rig",
    "internal": "a fault in the calibration itself",
}


class CalibrationError(LensError):
    """Calibration refused: ``cause`` is one of :data:`CAUSES`, the message says what
    was observed.  ``candidate`` is the calibration a failed check refused, if any;
    ``code`` the gphoto2 error behind a ``"camera"`` refusal."""

    def __init__(self, message: str, cause: str, *, code: int | None = None,
                 candidate: Calibration | None = None) -> None:
        if cause not in CAUSES:
            raise ValueError(f"unknown calibration cause {cause!r}")
        super().__init__(message)
        self.cause = cause
        self.code = code
        self.candidate = candidate
