"""The web page: live view, AF, jog and the sequence from a phone.

An aiohttp server in rig's own process, on a thread of its own with its own
event loop (``[web]`` in the config turns it on).  It never calls the camera
and never changes the state itself:

* **Live view** (``/live.mjpg``): MJPEG from :class:`rig.liveview.LiveFeed`,
  the one slot the lens worker fills.  Each client sends the latest frame
  when it is free, so a slow or stalled client skips frames and the others
  never wait for it; the boundary follows each frame at once, so a browser
  shows a frame as soon as it has it.
* **Control** (``/ws``): JSON messages become the core's events
  (:mod:`rig.sequencer`), posted to the same channel as the buttons, so web
  and button edits are applied one after the other and never lose each
  other.  A message is checked field by field, then against the current
  state (:func:`rig.sequencer.refusal`); a refused one gets
  ``{"type": "error", "error": "..."}`` and nothing changes.
* **State** goes out on the same WebSocket after every change: mode, point,
  position, countdown, the sequence, the AF region and the last AF.
* **Charts**: the calibration and the last AF curve as JSON
  (``/plot/calibration.json``, ``/plot/af.json``), drawn by the page itself
  in SVG, so they stay sharp and readable on a phone.
* **Distances**: with the lens's closest focusing distance
  (:mod:`rig.distance`), each point, the lens and a pull's target carry an
  estimated distance ("~54cm").

**Access.**  Every request needs the token (``?token=`` or ``?t=``, with or
without its dashes, a ``rig_token`` cookie, or ``Authorization: Bearer``):
it is made once, kept in the state directory (mode 0600), printed by ``rig
doctor`` and shown on the OLED help screen with a QR code
(:func:`token_for`).  The page sets the cookie and then takes the token out
of the address bar and the history.  A WebSocket opened from another site's page (a
foreign ``Origin``) is refused, whatever token it carries.

Message types (``index`` counts points from 0; ``id``, optional, is echoed):

=========== ================================ ===================================
type        fields                           does
=========== ================================ ===================================
mode        mode: inactive|edit|play         switch mode (as INFO does)
region      x, y, w, h: fractions            where AF looks
af          (none)                           autofocus (edit mode)
jog         steps: -1000..1000, not 0        move the lens (edit mode)
add         (none)                           a point at the lens (Q)
remove      index                            remove a point
duration    index >= 1, seconds: 0..3600     transition into the point
easing      index >= 1, easing: linear|ease  its trajectory
goto        index                            go there as fast as possible
=========== ================================ ===================================
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from .autofocus import check_roi
from .planner import EASINGS
from .sequencer import (SCENES, AddPoint, Focus, GoTo, Jog, Mode, Rehome, RemovePoint,
                        SetDuration, SetEasing, SetMode, SetRegion, SetScene, State, achievable,
                        refusal)
from .distance import estimate
from .store import atomic_write_bytes

log = logging.getLogger(__name__)

__all__ = ["token_for", "token_path", "port_problem", "make_app", "WebServer", "parse_message",
           "MessageError", "state_json", "MESSAGES", "af_chart", "calibration_chart"]

TOKEN_FILE = "web-token"
PAGE = Path(__file__).parent / "data" / "web" / "index.html"
MAX_MESSAGE = 4096          # bytes: a control message is far smaller
MAX_JOG = 1000
BOUNDARY = "frame"


# ------------------------------------------------------------------ token


def token_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / TOKEN_FILE


TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def token_for(state_dir: str | Path) -> str:
    """The web page's token: made the first time (atomic write, mode 0600), then kept.

    ``rig doctor`` prints it and the OLED help screen shows it.
    """
    path = token_path(state_dir)
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise OSError(f"{path}: cannot read the web token ({exc}); remove the file "
                      "to make a new one") from None
    if len(token) >= 16 and token.isascii() and token.replace("-", "").replace("_", "").isalnum():
        return token
    if token:
        log.warning("%s did not hold a usable token: making a new one", path)
    # Typed from the OLED by cold hands: no letters that look alike in its
    # font (0/o, 1/l/i), lower case, in groups of four. 20 of 31 symbols:
    # 99 bits.
    symbols = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(20))
    token = "-".join(symbols[i:i + 4] for i in range(0, 20, 4))
    old = os.umask(0o077)    # the temporary file is made 0600 from the start
    try:
        atomic_write_bytes(path, (token + "\n").encode("ascii"))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return token


def port_problem(host: str, port: int) -> str | None:
    """Why the page could not be served on ``host:port`` now, or None."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"no such address {host!r} ({exc.strerror or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"port {port} cannot be used ({exc.strerror or exc})"
    return None


# --------------------------------------------------------------- messages


class MessageError(ValueError):
    """A web message refused: the text says why."""


_INT, _NUM, _STR = "a whole number", "a number", "a string"

#: type -> {field: kind}; checked by :func:`parse_message`.
MESSAGES: dict[str, dict[str, str]] = {
    "mode": {"mode": _STR},
    "region": {"x": _NUM, "y": _NUM, "w": _NUM, "h": _NUM},
    "af": {},
    "jog": {"steps": _INT},
    "add": {},
    "remove": {"index": _INT},
    "duration": {"index": _INT, "seconds": _NUM},
    "easing": {"index": _INT, "easing": _STR},
    "goto": {"index": _INT},
    "scene": {"scene": _STR},
    "home": {},
}


def _field(msg: dict[str, Any], kind: str, name: str, key: str) -> Any:
    if key not in msg:
        raise MessageError(f"'{name}' needs '{key}'")
    value = msg[key]
    ok = {_INT: isinstance(value, int) and not isinstance(value, bool),
          _NUM: isinstance(value, (int, float)) and not isinstance(value, bool),
          _STR: isinstance(value, str)}[kind]
    if not ok:
        raise MessageError(f"'{key}' must be {kind}, got {json.dumps(value)[:40]}")
    if kind == _NUM and not math.isfinite(value):
        raise MessageError(f"'{key}' must be a finite number")
    return value


def parse_message(text: str | bytes, state: State, t: float) -> tuple[Any, Any]:
    """(the message's id, the core event) for one WebSocket message.

    Raises :class:`MessageError` naming what is wrong: not JSON, not an
    object, an unknown type or field, a wrong type, a value out of range, or
    an edit the current state refuses (not in edit mode, no such point, the
    lens busy).
    """
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise MessageError('a message is a JSON object such as {"type": "af"}')
    ident = msg.get("id")
    if ident is not None and not (isinstance(ident, (int, str)) and not isinstance(ident, bool)
                                  and len(str(ident)) <= 64):
        raise MessageError("'id' must be a number or a short string")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in MESSAGES:
        raise MessageError(f"unknown type {json.dumps(kind)[:40]}: one of "
                           f"{', '.join(MESSAGES)}")
    fields = MESSAGES[kind]
    extra = sorted(set(msg) - set(fields) - {"type", "id"})
    if extra:
        raise MessageError(f"'{kind}' takes no field '{extra[0]}'")
    v = {key: _field(msg, k, kind, key) for key, k in fields.items()}
    index = v.get("index")
    if index is not None and index < 0:
        raise MessageError(f"'index' must be 0 or more (points count from 0), got {index}")
    event: Any
    if kind == "mode":
        modes = [m.value for m in Mode]
        if v["mode"] not in modes:
            raise MessageError(f"'mode' must be one of {', '.join(modes)}, got "
                               f"{json.dumps(v['mode'])[:40]}")
        event = SetMode(Mode(v["mode"]), t)
    elif kind == "region":
        try:
            region = check_roi((v["x"], v["y"], v["w"], v["h"]))
        except ValueError as exc:
            raise MessageError(str(exc)) from None
        event = SetRegion(region, t)
    elif kind == "scene":
        if v["scene"] not in SCENES:
            raise MessageError(f"'scene' must be one of {', '.join(SCENES)}, got "
                               f"{json.dumps(v['scene'])[:40]}")
        event = SetScene(v["scene"], t)
    elif kind == "home":
        event = Rehome(t)
    elif kind == "af":
        event = Focus(t)
    elif kind == "jog":
        if not 0 < abs(v["steps"]) <= MAX_JOG:
            raise MessageError(f"'steps' must be between -{MAX_JOG} and {MAX_JOG}, not 0; "
                               f"got {v['steps']}")
        event = Jog(v["steps"], t)
    elif kind == "add":
        event = AddPoint(t)
    elif kind == "remove":
        event = RemovePoint(index, t)
    elif kind == "duration":
        if not 0 <= v["seconds"] <= 3600:
            raise MessageError(f"'seconds' must be 0 to 3600, got {v['seconds']}")
        event = SetDuration(index, float(v["seconds"]), t)
    elif kind == "easing":
        if v["easing"] not in EASINGS:
            raise MessageError(f"'easing' must be one of {', '.join(EASINGS)}, got "
                               f"{json.dumps(v['easing'])[:40]}")
        event = SetEasing(index, v["easing"], t)
    else:
        event = GoTo(index, t)
    why = refusal(state, event)
    if why is not None:
        raise MessageError(why)
    return ident, event


# ------------------------------------------------------------------ state


def state_json(state: State, now: float, min_focus_m: float | None = None) -> dict[str, Any]:
    """What the page shows, from the core's state at ``now``; with the lens's
    closest focusing distance, estimated distances ("~54cm", "" when unknown)."""
    steps = state.model.steps if state.model else None

    def far(position: float | None) -> str:
        return estimate(position, steps, min_focus_m)
    tr = state.transition
    transition = None
    if tr is not None:
        transition = {"kind": tr.kind, "to": tr.to_index, "target": tr.target,
                      "distance": far(tr.target), "duration_s": round(tr.duration, 3),
                      "remaining_s": round(max(0.0, tr.t0 + tr.duration - now), 3)}
    points = []
    for i, p in enumerate(state.points):
        points.append({"position": p.position, "distance": far(p.position),
                       "duration": p.duration, "easing": p.easing,
                       "achievable_s": None if i == 0 or state.model is None
                       else round(achievable(state, i) or 0.0, 3)})
    notice = state.highlight.text if state.highlight and state.highlight.what == "busy" else ""
    return {
        "mode": state.mode.value,
        "activity": state.activity.value,
        "index": state.index,
        "position": state.position,
        "distance": far(state.position),
        "min_focus_m": min_focus_m,
        "steps": steps,
        "trusted": state.trusted,
        "uncertainty": None if not math.isfinite(state.uncertainty)
        else round(state.uncertainty, 1),
        "uncertain": state.uncertainty > state.settings.uncertain_steps,
        "scene": state.scene,
        "points": points,
        "transition": transition,
        "af_region": list(state.af_region) if state.af_region else None,
        "message": state.message,
        "notice": notice,
        "progress": list(state.progress) if state.progress else None,
    }


def af_json(result: Any) -> dict[str, Any] | None:
    """The last AF, whatever shape its result has (``to_json`` if it has one)."""
    if result is None:
        return None
    to_json = getattr(result, "to_json", None)
    if callable(to_json):
        try:
            data = dict(to_json())
        except Exception:   # a result we cannot read must not break the page
            log.exception("AF result to_json failed")
            data = {}
    else:
        data = {}
    for key in ("ok", "position", "frames", "reason"):
        if hasattr(result, key):
            data.setdefault(key, getattr(result, key))
    for key in ("curve", "samples"):   # every frame's figures: the plot shows them
        data.pop(key, None)
    return json.loads(json.dumps(data, default=str))


def af_curve(result: Any) -> list[tuple[float, float]]:
    """(position, sharpness) pairs of an AF result's ``curve``, sorted by position.

    Pairs or lists, or objects/dicts with a position and a measure: the
    autofocus module may change the shape of its curve.
    """
    points = []
    for item in getattr(result, "curve", None) or []:
        try:
            if isinstance(item, dict):
                x = item.get("position", item.get("step"))
                y = item.get("measure", item.get("value", item.get("sharpness")))
            elif hasattr(item, "position"):
                x = item.position
                y = getattr(item, "measure", getattr(item, "value", None))
            else:
                x, y = item[0], item[1]
            points.append((float(x), float(y)))
        except (TypeError, ValueError, IndexError):
            continue
    return sorted(points)


def af_chart(result: Any) -> dict[str, Any] | None:
    """The last AF for the page's chart: its curve and where it focused (or why not)."""
    points = af_curve(result)
    if not points:
        return None
    return {"curve": [[round(x, 3), round(y, 6)] for x, y in points],
            "ok": bool(getattr(result, "ok", False)),
            "position": getattr(result, "position", None) if getattr(result, "ok", False)
            else None,
            "reason": str(getattr(result, "reason", "") or "")}


def calibration_chart(cal: Any) -> dict[str, Any] | None:
    """A calibration for the page's charts: the sharpness along the reference sweep,
    how much the picture changes per step, and the drive sizes."""
    if cal is None:
        return None
    extra = cal.extra

    def numbers(key: str) -> list[float]:
        values = extra.get(key)
        if not isinstance(values, list):
            return []
        return [round(float(v), 6) for v in values if isinstance(v, (int, float))]
    return {"lens": cal.lens, "camera": cal.camera, "steps": cal.steps,
            "focus_curve": numbers("focus_curve"), "sensitivity": numbers("sensitivity"),
            "subject_step": extra.get("subject_step"),
            "drive": [{"size": d.size, "steps": d.steps, "speed": round(d.speed, 3)}
                      for d in sorted(cal.drive, key=lambda d: d.size)],
            "latency_ms": round(cal.latency_ms, 2)}


# ------------------------------------------------------------------- app


@dataclass
class _Client:
    """One MJPEG client, for tests and the log: frames sent, and the last one's number."""
    peer: str
    sent: int = 0
    last: int = 0
    writing: bool = False


@dataclass
class _Shared:
    hub: Any
    token: str
    clients: list[_Client] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)
    new_state: asyncio.Event = field(default_factory=asyncio.Event)
    # The state the core last published, after its effects were carried out
    # (``hub.state`` is assigned before: a sequence shown from it might not
    # be on disk yet).
    published: State | None = None


SHARED = web.AppKey("rig", _Shared)


COOKIE = "rig_token"
COOKIE_AGE_S = 400 * 24 * 3600     # the longest a browser keeps one: the shoot's season


def _token_of(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return (request.query.get("token") or request.query.get("t")
            or request.cookies.get(COOKIE, ""))


def _same_token(given: str, token: str) -> bool:
    """The token as given, or without its dashes (the QR code's short form)."""
    return hmac.compare_digest(given.replace("-", "").encode(), token.replace("-", "").encode())


NO_TOKEN_PAGE = """<!doctype html><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>rig</title>
<body style="font: 18px/1.4 system-ui, sans-serif; background: #111; color: #eee; padding: 1em">
<h1 style="font-size: 1.3em">rig: this page needs the rig's token</h1>
<p>Scan the QR code on the rig's help screen (press A and B together, then wait for its
last page), or open the address <code>rig doctor</code> prints, ending in
<code>?token=...</code>. The page then remembers it.</p>"""


def _refuse(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


@web.middleware
async def _access(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    shared = request.app[SHARED]
    given = _token_of(request)
    if not given:
        if request.path == "/":          # a person at the bare address: say what to do
            return web.Response(status=401, text=NO_TOKEN_PAGE, content_type="text/html")
        return _refuse(401, "this page needs the rig's token: open the address `rig doctor` "
                       "prints (or the OLED help screen shows), ending in ?token=...")
    if not _same_token(given, shared.token):
        return _refuse(403, "wrong token: `rig doctor` prints the right one")
    return await handler(request)


def _foreign_origin(request: web.Request) -> str | None:
    """The Origin, when it is not this server (a page elsewhere opening our socket)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None          # not a browser page: the token is what counts
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower():
        return None
    return origin


async def _page(request: web.Request) -> web.StreamResponse:
    resp = web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})
    # The cookie carries the token from now on (the live view, the socket, a
    # reload, the bookmark): the page drops it from the address bar.
    resp.set_cookie(COOKIE, request.app[SHARED].token, httponly=True, samesite="Strict",
                    max_age=COOKIE_AGE_S)
    return resp


async def _next_frame(shared: _Shared, after: int) -> tuple[int, bytes]:
    live = shared.hub.live
    while True:
        seq, jpeg, _ = live.latest()
        if seq != after and jpeg:
            return seq, jpeg
        await shared.new_frame.wait()


async def _mjpeg(request: web.Request) -> web.StreamResponse:
    shared = request.app[SHARED]
    resp = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        "Cache-Control": "no-store", "Pragma": "no-cache"})
    await resp.prepare(request)
    client = _Client(str(request.remote))
    shared.clients.append(client)
    live = shared.hub.live
    live.watch(+1)
    try:
        await resp.write(f"--{BOUNDARY}\r\n".encode())
        while True:
            client.last, jpeg = await _next_frame(shared, client.last)
            head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            # The boundary right after the frame: a browser shows a part once
            # the next boundary arrives.
            client.writing = True
            await resp.write(head + jpeg + f"\r\n--{BOUNDARY}\r\n".encode())
            client.writing = False
            client.sent += 1
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        live.watch(-1)
        shared.clients.remove(client)
    return resp


async def _frame(request: web.Request) -> web.StreamResponse:
    seq, jpeg, _ = request.app[SHARED].hub.live.latest()
    if not jpeg:
        return _refuse(404, "no live-view frame yet: the camera is not connected")
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Frame": str(seq)})


def _snapshot(shared: _Shared) -> dict[str, Any]:
    hub = shared.hub
    min_focus = getattr(hub, "min_focus_m", None)
    data = state_json(shared.published or hub.state, hub.clock.now(),
                      min_focus() if callable(min_focus) else None)
    status = getattr(hub, "lens_status", None)   # the worker's frozen snapshot
    data["af"] = af_json(getattr(status, "last_af", None))
    data["af_count"] = getattr(status, "af_count", 0)
    cal = getattr(status, "calibration", None)
    data["calibration"] = None if cal is None else {"lens": cal.lens, "camera": cal.camera,
                                                    "steps": cal.steps}
    data["watchers"] = hub.live.watchers
    return data


async def _socket(request: web.Request) -> web.StreamResponse:
    shared = request.app[SHARED]
    origin = _foreign_origin(request)
    if origin is not None:
        return _refuse(403, f"WebSocket from another site ({origin[:80]}) refused: open the "
                       "rig's own page")
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=20.0)
    await ws.prepare(request)
    shared.sockets.add(ws)
    hub = shared.hub
    try:
        await ws.send_json({"type": "state", "state": _snapshot(shared)})
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_json({"type": "error", "id": None,
                                    "error": "send JSON text messages, not binary"})
                continue
            if msg.type != WSMsgType.TEXT:
                break
            try:
                ident, event = parse_message(msg.data, hub.state, hub.clock.now())
            except MessageError as exc:
                ident = _id_of(msg.data)
                await ws.send_json({"type": "error", "id": ident, "error": str(exc)})
                continue
            hub.post(event)
            await ws.send_json({"type": "ok", "id": ident})
    finally:
        shared.sockets.discard(ws)
    return ws


def _id_of(text: str) -> Any:
    try:
        ident = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return ident if isinstance(ident, (int, str)) and not isinstance(ident, bool) else None


async def _push_states(shared: _Shared) -> None:
    """After each change of the core's state, the new one to every page (if it differs)."""
    last: dict[str, Any] | None = None
    while True:
        await shared.new_state.wait()
        shared.new_state.clear()
        data = _snapshot(shared)
        if data == last:
            continue
        last = data
        for ws in list(shared.sockets):
            try:
                await ws.send_json({"type": "state", "state": data})
            except (ConnectionError, RuntimeError):
                shared.sockets.discard(ws)


async def _state(request: web.Request) -> web.StreamResponse:
    return web.json_response(_snapshot(request.app[SHARED]))


def _chart_handler(attribute: str, chart: Callable[[Any], dict[str, Any] | None],
                   missing: str) -> Callable[[web.Request], Any]:
    """GET /plot/NAME.json: the lens status's ``attribute`` as chart data, or 404."""
    async def handler(request: web.Request) -> web.StreamResponse:
        shared = request.app[SHARED]
        data = chart(getattr(getattr(shared.hub, "lens_status", None), attribute, None))
        if data is None:
            return _refuse(404, missing)
        return web.json_response(data, headers={"Cache-Control": "no-store"})
    return handler


def make_app(hub: Any, token: str) -> web.Application:
    """The aiohttp application for ``hub`` (an :class:`rig.app.App`: ``state``,
    ``post``, ``clock``, ``live``, ``listeners``, ``lens_status``)."""
    app = web.Application(middlewares=[_access], client_max_size=MAX_MESSAGE)
    app.router.add_get("/", _page)
    app.router.add_get("/live.mjpg", _mjpeg)
    app.router.add_get("/frame.jpg", _frame)
    app.router.add_get("/ws", _socket)
    app.router.add_get("/state", _state)
    app.router.add_get("/plot/af.json", _chart_handler("last_af", af_chart,
                                                       "no autofocus yet"))
    app.router.add_get("/plot/calibration.json", _chart_handler(
        "calibration", calibration_chart, "no calibration yet: the lens is not connected"))
    shared = _Shared(hub, token)
    app[SHARED] = shared

    async def startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def frame_woke() -> None:
            event, shared.new_frame = shared.new_frame, asyncio.Event()
            event.set()

        def on_frame() -> None:
            loop.call_soon_threadsafe(frame_woke)

        def on_state(state: State) -> None:
            shared.published = state
            loop.call_soon_threadsafe(shared.new_state.set)

        stop_frames = hub.live.listen(on_frame)
        hub.listeners.append(on_state)
        pusher = asyncio.create_task(_push_states(shared))

        async def cleanup(app: web.Application) -> None:
            stop_frames()
            if on_state in hub.listeners:
                hub.listeners.remove(on_state)
            pusher.cancel()
            for ws in list(shared.sockets):
                await ws.close()
        app.on_cleanup.append(cleanup)

    app.on_startup.append(startup)

    return app


# ---------------------------------------------------------------- server


class WebServer:
    """The web app on its own thread and event loop (``rig run`` with ``web.enabled``)."""

    def __init__(self, hub: Any, token: str, host: str, port: int) -> None:
        self.hub, self.token, self.host, self.port = hub, token, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Serve; raises OSError (port in use, no such address) if it cannot."""
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()
        self._started.wait(timeout)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:   # reported by start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.close()

    async def _serve(self) -> None:
        runner = web.AppRunner(make_app(self.hub, self.token), access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(f"web: cannot serve on {self.host}:{self.port}: {exc.strerror or exc}"
                          " (web.host / web.port in the config)") from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        from .address import page_urls
        log.info("web page on %s (the token: rig doctor prints it, the OLED help page "
                 "shows it)", ", ".join(page_urls(self.host, self.port)))

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
