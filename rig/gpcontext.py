"""libgphoto2's human error text, kept next to the error code.

Some cameras say more than a code.  Nikon's focus drive returns the same
``GP_ERROR_CAMERA_ERROR`` (-113) for "at limit" and for "stepping too small";
only the text that libgphoto2 passes to ``gp_context_error`` tells them
apart.  python-gphoto2 delivers that text to a function registered with
``Context.set_error_func``.  :class:`CameraContext` registers one and keeps
the latest messages; the lens layer passes ``ctx.context`` to every camera
call and reads ``ctx.take()`` after an error.

:func:`deliver_error` is what libgphoto2 does when it calls
``gp_context_error``: the simulator uses it to hand its text to the same
registered function, so the lens layer reads it the same way from both.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import Any

import gphoto2 as gp

__all__ = ["CameraContext", "deliver_error"]

_live: "weakref.WeakValueDictionary[int, CameraContext]" = weakref.WeakValueDictionary()
_lock = threading.Lock()


class CameraContext:
    """A ``gp.Context`` whose error messages are kept for the caller."""

    def __init__(self) -> None:
        self.context = gp.Context()
        self.messages: deque[str] = deque(maxlen=8)
        # Keep the callback reachable: python-gphoto2 holds only a reference
        # that must outlive the context.
        self._callback = self._on_error
        self.context.set_error_func(self._callback, None)
        with _lock:
            _live[id(self.context)] = self

    def _on_error(self, context: Any, text: str, data: Any = None) -> None:
        self.messages.append(str(text).strip())

    def take(self) -> str:
        """The latest message (empty if none), and forget them all."""
        text = self.messages[-1] if self.messages else ""
        self.messages.clear()
        return text


def deliver_error(context: Any, text: str) -> None:
    """Report ``text`` on ``context`` as libgphoto2's gp_context_error does."""
    with _lock:
        target = _live.get(id(context))
    if target is not None:
        target._on_error(context, text)
