"""The boot, as ``rig run`` does it, on the simulator in virtual time.

The service entry point (:class:`rig.service.Service`, what ``rig run``
runs) starts with the camera off, the camera appears, the rig homes the known
lens and stands in play on point 1.  The OLED frames along the way are the
ones ``tools/boot_strip.py`` draws for docs/boot.md.
"""

import socket
import threading

import pytest

from rig.display import stopped_screen
from rig.harness import simulate_boot
from rig.notify import Notifier
from rig.sequencer import Activity, Mode, Point
from rig.sim import DEFAULT_PROFILE, load_profile
from rig.store import Store

GUARD_S = 30.0   # only turns a hang into a failure; nothing is timed
POINTS = (Point(120), Point(300, 2.5), Point(200, 1.5, "ease"))


@pytest.fixture
def calibration(calibrations):
    """The default lens's calibration, as an earlier session would have saved it."""
    return calibrations.calibration(DEFAULT_PROFILE)


def _phases(frames):
    """The activities the screen went through, each once, in order."""
    out = []
    for f in frames:
        if not out or out[-1] != f.state.activity:
            out.append(f.state.activity)
    return out


def _text(frame):
    return " ".join(frame.words)


def test_boots_from_no_camera_to_play_on_point_1(tmp_path, calibration):
    store = Store(tmp_path)
    store.save_calibration(calibration)
    store.save_sequence(POINTS, calibration.lens)
    messages: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(GUARD_S)

        def systemd():          # reads as systemd does: a unix socket queues ~10 datagrams
            while "STOPPING=1" not in messages:
                messages.extend(sock.recv(4096).decode().split("\n"))

        reader = threading.Thread(target=systemd, daemon=True)
        reader.start()
        run = simulate_boot(load_profile(DEFAULT_PROFILE), tmp_path, camera_at=5.0,
                            notifier=Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")}))
        reader.join(GUARD_S)

    frames = run.frames
    # Progress from the first second: the first frame, at once, says what it waits for.
    assert frames[0].t < 1.0 and "waiting for the camera on USB..." in _text(frames[0])
    waiting = [f for f in frames if f.t < run.camera_at]
    assert waiting and all(f.state.activity == Activity.CONNECTING for f in waiting)
    assert any("no camera on USB: plug it in and switch it on" in _text(f) for f in waiting)
    # Then: home the known lens (no calibration), move to point 1, play.
    assert _phases(frames) == [Activity.CONNECTING, Activity.HOMING, Activity.MOVING,
                               Activity.IDLE]
    homing = [f for f in frames if f.state.activity == Activity.HOMING]
    assert homing[0].t >= run.camera_at and "HOMING finding the near stop" in _text(homing[0])
    moving = [f for f in frames if f.state.activity == Activity.MOVING]
    assert {(f.state.transition.kind, f.state.transition.to_index) for f in moving} \
        == {("asap", 0)}
    assert any("» 1" in f.words for f in moving)          # the countdown screen
    assert all(f.state.mode == Mode.PLAY for f in frames)
    assert run.in_play_at is not None and run.in_play_at - run.camera_at < 60
    last = frames[-1]
    assert last.words[:4] == ["PLAY", "moving", "1/3", "»2"] and "point 120" in last.words
    final = run.state
    assert (final.mode, final.activity, final.index, final.position) == \
        (Mode.PLAY, Activity.IDLE, 0, 120)
    assert final.points == POINTS                         # the sequence, untouched
    # The stop rig run makes on SIGTERM leaves the "stopped" screen on.
    assert run.stopped.tobytes() == stopped_screen().tobytes()
    # systemd heard it all: ready at once, then what the rig was doing, then stopping.
    statuses = [m[len("STATUS="):] for m in messages if m.startswith("STATUS=")]
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"
    assert statuses[0].startswith("connecting: no camera on USB")
    assert any(s.startswith("homing") for s in statuses)
    assert statuses[-1] == "play, point 1/3"


def test_with_no_sequence_yet_it_says_what_to_do(tmp_path, calibration):
    Store(tmp_path).save_calibration(calibration)
    run = simulate_boot(load_profile(DEFAULT_PROFILE), tmp_path, camera_at=1.5)
    assert _phases(run.frames) == [Activity.CONNECTING, Activity.HOMING, Activity.IDLE]
    final = run.state
    assert (final.mode, final.activity, final.points, final.position) == \
        (Mode.PLAY, Activity.IDLE, (), 0)
    words = run.frames[-1].words
    assert words[:4] == ["PLAY", "moving", "0/0", "no points yet"]
    assert "A twice: edit mode" in words   # how to get to recording points
