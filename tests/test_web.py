"""The web page's protocol, through aiohttp's own test client and server.

The rig behind it is the real :class:`rig.app.App` on real time, with its
core loop running (the lens worker is not started: these tests are about
what reaches the core, and frames are published into the real
:class:`rig.liveview.LiveFeed` by the test, as the worker does).  Waits are
on conditions (a frame read, the core idle), each with a generous limit so a
broken build fails instead of hanging; nothing is timed.

``tests/corpus/web`` holds malformed and out-of-range messages, one a file:
the first line says the error expected, the rest is the message as sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import threading
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from gpiozero.pins.mock import MockFactory

from rig.app import App
from rig.buttons import Buttons
from rig.clock import MonotonicClock
from rig.config import load_config
from rig.planner import Drive, LensModel
from rig.sequencer import Home, Mode, Moved, Point, Ready, Settings, initial_state
from rig.store import Store
from rig.web import SHARED, make_app, token_for, token_path
from rig.worker import Stop

CORPUS = Path(__file__).parent / "corpus" / "web"
TOKEN = "t0ken-for-the-tests-only"
LIMIT = 20.0   # seconds before a wait counts as a failure (never reached when it works)
MODEL = LensModel(407, (Drive(1, 1.0, 0.06, 0.045), Drive(2, 4.0, 0.11, 0.085),
                        Drive(3, 26.0, 0.30, 0.28)), latency=0.03)


class Rig:
    """The app's core loop on real time, lens idle at 10, two points, edit mode."""

    def __init__(self, root: Path, settings: Settings | None = None) -> None:
        self.clock = MonotonicClock()
        self.store = Store(root)
        state = initial_state((Point(10), Point(300)), settings, load_config().bindings)
        self.app = App(self.clock, lambda: None, self.store, state=state)
        self.core = self.clock.spawn(self.app.run_core, name="core")
        now = self.clock.now()
        self.app.post(Ready(MODEL, 10, now))
        self.app.post(Moved(10, now))          # the move to point 1 (no worker here)
        self.settle()
        self.app.state = replace(self.app.state, mode=Mode.EDIT)
        self.app.worker.inbox.get_nowait()     # that move: the worker is not running

    def settle(self) -> None:
        """Wait until the core has handled everything posted so far."""
        assert self.app.wait_idle(until=self.clock.now() + LIMIT)

    def stop(self) -> None:
        self.app.events.put(Stop())
        self.core.join()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.stop()


@pytest.fixture
async def client(rig, aiohttp_client):
    return await aiohttp_client(make_app(rig.app, TOKEN))


async def settled(rig: Rig) -> None:
    await asyncio.get_running_loop().run_in_executor(None, rig.settle)


async def receive(ws, kind: str) -> dict:
    """The next message of ``kind`` (states pushed meanwhile are skipped)."""
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), LIMIT)
        if msg["type"] == kind:
            return msg


async def socket_to(client, **headers):
    return await client.ws_connect(f"/ws?token={TOKEN}", headers=headers)


# ----------------------------------------------------------------- access


async def test_every_address_needs_the_token(client):
    resp = await client.get("/")               # a person at the bare address: a page
    assert resp.status == 401 and "needs the rig's token" in await resp.text()
    for path in ("/", "/live.mjpg", "/frame.jpg", "/ws", "/state", "/plot/af.json",
                 "/plot/calibration.json"):
        resp = await client.get(path)
        assert resp.status == 401
        if path != "/":
            assert (await resp.json())["error"].startswith("this page needs the rig's token")
        resp = await client.get(path + "?token=guess")
        assert resp.status == 403
        assert (await resp.json())["error"] == "wrong token: `rig doctor` prints the right one"
    resp = await client.get(f"/?token={TOKEN}")
    assert resp.status == 200 and "<title>rig</title>" in await resp.text()
    # The page's cookie lets a reload without ?token= in.
    assert (await client.get("/state")).status == 200
    client.session.cookie_jar.clear()
    assert (await client.get("/state", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    # The QR code's short form: ?t= and the token without its dashes.
    short = TOKEN.replace("-", "")
    assert (await client.get(f"/state?t={short}")).status == 200
    assert (await client.get(f"/state?t={short[:-1]}x")).status == 403


async def test_the_cookie_lasts_and_is_the_rigs_token(client):
    client.session.cookie_jar.clear()
    resp = await client.get(f"/?t={TOKEN.replace('-', '')}")
    cookie = resp.cookies["rig_token"]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) >= 300 * 24 * 3600      # the bookmark still works next month


async def test_a_socket_from_another_site_is_refused_and_changes_nothing(client, rig):
    before = rig.app.state
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await socket_to(client, Origin="http://evil.example")
    assert refused.value.status == 403
    resp = await client.get(f"/ws?token={TOKEN}", headers={"Origin": "http://evil.example"})
    assert (await resp.json())["error"] == ("WebSocket from another site (http://evil.example) "
                                            "refused: open the rig's own page")
    # The page's own origin, and a client that sends none, are let in.
    host = f"http://{client.server.host}:{client.server.port}"
    for headers in ({"Origin": host}, {}):
        ws = await socket_to(client, **headers)
        assert (await receive(ws, "state"))["state"]["points"][1]["position"] == 300
        await ws.close()
    await settled(rig)
    assert rig.app.state.points == before.points and not rig.store.sequence_path.exists()


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.stem)
async def test_malformed_messages_are_refused_with_their_error(client, rig, case):
    expect, _, message = case.read_text().partition("\n")
    assert expect.startswith("# expect: ")
    before = rig.app.state
    ws = await socket_to(client)
    await ws.send_str(message.rstrip("\n"))
    reply = await receive(ws, "error")
    assert reply["error"] == expect[len("# expect: "):]
    await ws.close()
    await settled(rig)
    state = rig.app.state
    assert (state.points, state.mode, state.index, state.af_region, state.position) == \
        (before.points, before.mode, before.index, before.af_region, before.position)
    assert len(rig.app.worker.inbox) == 0 and not rig.store.sequence_path.exists()


def test_the_corpus_covers_each_check_once():
    errors = [p.read_text().partition("\n")[0] for p in CORPUS.glob("*.txt")]
    assert len(errors) >= 20 and len(set(errors)) == len(errors)


async def test_binary_and_oversized_messages_are_refused(client, rig):
    ws = await socket_to(client)
    await ws.send_bytes(b'{"type": "af"}')
    assert (await receive(ws, "error"))["error"] == "send JSON text messages, not binary"
    await ws.send_str(json.dumps({"type": "af", "id": "x" * 5000}))
    closed = await asyncio.wait_for(ws.receive(), LIMIT)
    while closed.type == aiohttp.WSMsgType.TEXT:   # a state pushed before the close
        closed = await asyncio.wait_for(ws.receive(), LIMIT)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await settled(rig)
    assert len(rig.app.worker.inbox) == 0


async def test_a_refusal_the_state_decides_names_it(client, rig):
    rig.app.state = replace(rig.app.state, mode=Mode.PLAY)
    ws = await socket_to(client)
    await ws.send_json({"type": "add", "id": 7})
    assert await receive(ws, "error") == {
        "type": "error", "id": 7,
        "error": "switch to edit mode first (the rig is in play mode)"}


# ------------------------------------------------------------------ edits


async def test_edits_reach_the_core_and_come_back_as_state(client, rig):
    ws = await socket_to(client)
    await receive(ws, "state")
    for i, msg in enumerate([{"type": "region", "x": 0.1, "y": 0.2, "w": 0.3, "h": 0.25},
                             {"type": "duration", "index": 1, "seconds": 5},
                             {"type": "easing", "index": 1, "easing": "ease"},
                             {"type": "add"}]):
        await ws.send_json({**msg, "id": i})
        assert await receive(ws, "ok") == {"type": "ok", "id": i}
    while True:
        state = (await receive(ws, "state"))["state"]
        if len(state["points"]) == 3:
            break
    assert state["af_region"] == [0.1, 0.2, 0.3, 0.25]
    # The new point goes after the current one (point 1), as Q does.
    assert state["points"][2] == {"position": 300, "distance": "", "duration": 5.0,
                                  "easing": "ease", "achievable_s": 5.0}
    assert state["points"][1]["position"] == 10 and state["index"] == 1
    saved = json.loads(rig.store.sequence_path.read_text())
    assert [p["position"] for p in saved["points"]] == [10, 10, 300]
    # Going to a point: the countdown is there while the lens moves.
    await ws.send_json({"type": "goto", "index": 2})
    while True:
        state = (await receive(ws, "state"))["state"]
        if state["transition"]:
            break
    # (The pull starts a latency after the request: the countdown runs to its end.)
    assert state["transition"]["to"] == 2 and 0 < state["transition"]["remaining_s"] <= \
        state["transition"]["duration_s"] + MODEL.latency + Settings().lead + 0.001
    assert state["activity"] == "moving"


async def test_an_edit_from_a_button_and_one_from_the_web_both_land(tmp_path, aiohttp_client):
    """Q pressed on the rig while the page adds points too: every point is kept."""
    rig = Rig(tmp_path, Settings(bounce_time=0.0))
    factory = MockFactory()
    buttons = Buttons(load_config().buttons, rig.app.post, rig.clock, pin_factory=factory)
    try:
        client = await aiohttp_client(make_app(rig.app, TOKEN))
        ws = await socket_to(client)
        q = factory.pin(load_config().buttons["b"])   # Q is a press of button B
        go = threading.Event()

        def thumb():
            go.wait()
            for _ in range(10):
                q.drive_low()
                q.drive_high()

        presser = threading.Thread(target=thumb)
        presser.start()
        go.set()
        for i in range(10):
            await ws.send_json({"type": "add", "id": i})
        for _ in range(10):
            await receive(ws, "ok")
        await asyncio.get_running_loop().run_in_executor(None, presser.join)
        await settled(rig)
        assert len(rig.app.state.points) == 22
        saved = json.loads(rig.store.sequence_path.read_text())
        assert len(saved["points"]) == 22
    finally:
        buttons.close()
        rig.stop()


# -------------------------------------------------------------- live view


def part(seq: int, size: int) -> bytes:
    """A frame whose bytes say which it is (JPEG is not parsed on the way)."""
    head = b"\xff\xd8frame %08d " % seq
    return head + bytes((seq + i) % 251 for i in range(size - len(head)))


async def read_part(content) -> bytes:
    """One part of the multipart stream, checking its framing; returns the JPEG."""
    headers = await asyncio.wait_for(content.readuntil(b"\r\n\r\n"), LIMIT)
    lines = headers.decode().split("\r\n")
    assert lines[0] == "Content-Type: image/jpeg" and lines[2:] == ["", ""]
    name, _, length = lines[1].partition(": ")
    assert name == "Content-Length"
    body = await asyncio.wait_for(content.readexactly(int(length)), LIMIT)
    # The boundary follows the frame at once (no later frame is needed to end it).
    assert await asyncio.wait_for(content.readexactly(11), LIMIT) == b"\r\n--frame\r\n"
    return body


async def open_stream(client):
    resp = await client.get(f"/live.mjpg?token={TOKEN}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
    assert await asyncio.wait_for(resp.content.readexactly(9), LIMIT) == b"--frame\r\n"
    return resp


async def test_mjpeg_framing_and_the_latest_frame(client, rig):
    live = rig.app.live
    assert live.period(playing=False) is None       # nobody watches: no extra frames
    resp = await open_stream(client)
    assert live.watchers == 1
    assert live.period(playing=False) == pytest.approx(1 / live.fps)
    assert live.period(playing=True) == pytest.approx(1 / live.play_fps)
    for seq in (1, 2, 3):
        live.publish(part(seq, 5000 + seq), rig.clock.now())
        assert await read_part(resp.content) == part(seq, 5000 + seq)
    # Frames published while the client was busy elsewhere: it gets the latest only.
    for seq in (4, 5, 6):
        live.publish(part(seq, 100), rig.clock.now())
    assert await read_part(resp.content) == part(6, 100)
    snapshot = await client.get(f"/frame.jpg?token={TOKEN}")
    assert await snapshot.read() == part(6, 100) and snapshot.headers["X-Frame"] == "6"
    resp.close()
    await settled(rig)


async def test_three_clients_keep_up_while_a_fourth_stalls(client, rig):
    live, shared = rig.app.live, client.server.app[SHARED]
    # The stalled client: asks for the stream with a tiny receive buffer, never reads.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (client.server.host, client.server.port))
    await asyncio.get_running_loop().sock_sendall(
        raw, f"GET /live.mjpg?token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    while not shared.clients:
        await asyncio.sleep(0)    # yield to the server until it has taken the request
    stalled = shared.clients[0]
    readers = [await open_stream(client) for _ in range(3)]
    assert live.watchers == 4
    seq, stuck_at = 0, None
    while stuck_at is None or seq < stuck_at + 30:
        seq += 1
        assert seq < 2000, "the stalled client never filled its buffers"
        frame = part(seq, 200_000)
        live.publish(frame, rig.clock.now())
        got = await asyncio.gather(*(read_part(r.content) for r in readers))
        assert got == [frame] * 3           # each of the three has every frame
        if stuck_at is None and stalled.writing and stalled.sent < seq - 2:
            stuck_at = seq
    # While the three took 30 more frames, the stalled one sent none of them.
    assert stalled.writing and stalled.sent < stuck_at
    assert [c.sent for c in shared.clients if c is not stalled] == [seq] * 3
    raw.close()
    for r in readers:
        r.close()


# ------------------------------------------------------------------ token


def test_the_token_is_made_once_private_and_kept(tmp_path):
    token = token_for(tmp_path)
    path = token_path(tmp_path)
    assert len(token) >= 24 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_for(tmp_path) == token
    path.write_text("x\n")                  # damaged: a new one replaces it
    fresh = token_for(tmp_path)
    assert fresh != token and len(fresh) >= 24 and token_for(tmp_path) == fresh


# -------------------------------------------------------------- AF results


def test_the_af_figures_read_any_shape_of_curve():
    from types import SimpleNamespace

    from rig.web import af_chart, af_curve, af_json
    pairs = SimpleNamespace(ok=True, position=3, frames=3, reason="",
                            curve=[(5, 1.0), (1, 0.5), (3, 2.0)])
    dicts = SimpleNamespace(curve=[{"position": 5, "measure": 1.0}, {"step": 1, "value": 0.5},
                                   {"position": 3, "sharpness": 2.0}, {"junk": 1}])
    assert af_curve(pairs) == af_curve(dicts) == [(1.0, 0.5), (3.0, 2.0), (5.0, 1.0)]
    assert af_json(pairs) == {"ok": True, "position": 3, "frames": 3, "reason": ""}
    assert af_chart(pairs) == {"curve": [[1.0, 0.5], [3.0, 2.0], [5.0, 1.0]], "ok": True,
                               "position": 3, "reason": ""}
    assert af_chart(SimpleNamespace(curve=[])) is None and af_json(None) is None


def test_the_oled_help_screen_ends_with_the_address_and_the_token(tmp_path):
    """What rig run posts once the page is served, on the help screen's last page."""
    from rig.display import HELP_PAGE_S, View, screen_text
    from rig.sequencer import WebPage, step
    from rig.web import token_for
    token = token_for(tmp_path)
    state = initial_state((Point(10),), None, load_config().bindings)
    state, _ = step(state, WebPage("http://192.168.4.1:8080/", token, 0.0))
    state = replace(state, help_since=0.0)
    pages = [screen_text(View(state, k * HELP_PAGE_S + 0.1)) for k in range(8)]
    last = next(words for words in pages if "token:" in words)
    count = len(set(map(tuple, pages)))
    # The QR code of the address with the token, and both in writing.
    assert last[0] == f"[QR http://192.168.4.1:8080/?t={token.replace('-', '')}]"
    assert last[1] == f"web {count}/{count}"
    at = last.index("token:")
    assert "".join(last[2:at]) == "192.168.4.1:8080"
    assert "-".join(last[at + 1:]) == token               # two groups of four a line


def test_a_new_token_has_no_look_alike_letters_and_an_old_one_is_kept(tmp_path):
    import re
    from rig.web import token_for, token_path
    token = token_for(tmp_path / "a")
    assert re.fullmatch(r"[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){4}", token)
    assert not set(token) & set("01ilo")
    old = tmp_path / "b"
    old.mkdir()
    token_path(old).write_text("k3Vq9-xW2pLr_7HnT0aZc4Ye\n")   # made by an earlier rig
    assert token_for(old) == "k3Vq9-xW2pLr_7HnT0aZc4Ye"


async def test_the_scene_and_home_from_the_page(client, rig):
    """The scene switch and a homing on demand, as the page's buttons send them."""
    ws = await socket_to(client)
    state = (await receive(ws, "state"))["state"]
    assert state["scene"] == "moving" and state["uncertain"] is False
    await ws.send_json({"type": "scene", "scene": "still", "id": 1})
    assert await receive(ws, "ok") == {"type": "ok", "id": 1}
    while state["scene"] != "still":
        state = (await receive(ws, "state"))["state"]
    await ws.send_json({"type": "home", "id": 2})
    assert await receive(ws, "ok") == {"type": "ok", "id": 2}
    while state["activity"] != "homing":        # (busy now: the core is not idle)
        state = (await receive(ws, "state"))["state"]
    assert isinstance(rig.app.worker.inbox.get_nowait(), Home)
    # Busy homing: a second one is refused with the reason.
    await ws.send_json({"type": "home", "id": 3})
    assert await receive(ws, "error") == {
        "type": "error", "id": 3, "error": "the lens is busy (homing): try again when it stops"}
    await ws.close()
