"""rig.notify against real AF_UNIX datagram sockets, as systemd would bind them.

A datagram sent on a unix socket is queued at the receiver before sendto()
returns, so each test reads what was sent without waiting; the receive
timeout only turns a missing datagram into a failure instead of a hang.
"""

import logging
import os
import socket
import uuid

import pytest

from rig.notify import Notifier


def _listen(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


@pytest.fixture
def systemd(tmp_path):
    """A bound notification socket and the environment that points at it."""
    path = tmp_path / "notify"
    with _listen(str(path)) as sock:
        yield sock, {"NOTIFY_SOCKET": str(path)}


def _nothing_queued(sock):
    sock.setblocking(False)
    try:
        with pytest.raises(BlockingIOError):
            sock.recv(4096)
    finally:
        sock.settimeout(5)


def test_each_message_arrives_as_systemd_expects(systemd):
    sock, env = systemd
    notifier = Notifier({**env, "WATCHDOG_USEC": "10000000"})
    notifier.ready()
    notifier.status("waiting for the camera")
    notifier.watchdog()
    notifier.stopping()
    received = [sock.recv(4096) for _ in range(4)]
    assert received == [b"READY=1", b"STATUS=waiting for the camera", b"WATCHDOG=1",
                        b"STOPPING=1"]
    _nothing_queued(sock)
    notifier.close()


def test_abstract_socket_names_start_with_at():
    name = f"rig-test-{uuid.uuid4().hex}"
    with _listen("\0" + name) as sock:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        notifier.status("playing 2/3")
        assert sock.recv(4096) == b"READY=1"
        assert sock.recv(4096) == b"STATUS=playing 2/3"
        notifier.close()


def test_reads_the_process_environment(systemd, monkeypatch):
    sock, env = systemd
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier()
    assert notifier.watchdog_interval == 1.5
    notifier.ready()
    assert sock.recv(4096) == b"READY=1"


def test_a_status_stays_one_assignment(systemd):
    sock, env = systemd
    # A newline would start a second assignment in the datagram.
    Notifier(env).status("camera busy:\nclose gvfs")
    assert sock.recv(4096) == b"STATUS=camera busy: close gvfs"


def test_watchdog_interval_is_half_of_watchdog_sec(systemd):
    _, env = systemd
    assert Notifier({**env, "WATCHDOG_USEC": "10000000"}).watchdog_interval == 5.0
    assert Notifier({**env, "WATCHDOG_USEC": "10000000",
                     "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 5.0
    assert Notifier(env).watchdog_interval is None
    assert Notifier({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert Notifier({**env, "WATCHDOG_USEC": "soon"}).watchdog_interval is None


def test_no_watchdog_pings_without_a_watchdog(systemd):
    sock, env = systemd
    for extra in ({}, {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)}):
        notifier = Notifier({**env, **extra})
        assert notifier.watchdog_interval is None
        notifier.watchdog()
        notifier.ready()              # the socket works, and WATCHDOG=1 did not come first
        assert sock.recv(4096) == b"READY=1"
        _nothing_queued(sock)


def test_without_notify_socket_nothing_is_sent(systemd):
    sock, _ = systemd
    for env in ({}, {"WATCHDOG_USEC": "10000000"}, {"NOTIFY_SOCKET": "vsock:2:1234"}):
        notifier = Notifier(env)
        assert notifier.address is None
        assert notifier.watchdog_interval is None
        notifier.ready()
        notifier.status("x")
        notifier.watchdog()
        notifier.stopping()
        assert notifier._socket is None   # not even a socket was opened
    _nothing_queued(sock)


def test_a_vanished_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone"),
                         "WATCHDOG_USEC": "10000000"})
    with caplog.at_level(logging.WARNING, logger="rig.notify"):
        notifier.ready()
        notifier.watchdog()
        notifier.watchdog()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "cannot notify systemd (READY=1)" in warnings[0]
    notifier.close()
