"""How a phone finds the web page: the Pi's addresses, the link with the token, a QR code.

Older phones do not resolve ``rig.local`` (mDNS), so the page is given by
its IP address too: :func:`local_addresses` reads the IPv4 address of each
network interface from the kernel (``SIOCGIFADDR``), without sending
anything.  :func:`qr_link` is the short link a QR code carries (the token
without its dashes, in ``?t=``, so that it fits a version-3 code, 29x29
modules: two pixels a module on the 64-pixel-high OLED).  The QR code
itself comes from ``segno``.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from functools import lru_cache
from typing import Sequence

__all__ = ["local_addresses", "page_urls", "best_url", "qr_link", "qr_matrix",
           "terminal_qr", "WILDCARD"]

WILDCARD = ("0.0.0.0", "::", "")
SIOCGIFADDR = 0x8915          # linux/sockios.h: an interface's IPv4 address


def _ipv4_of(sock: socket.socket, name: str) -> str | None:
    try:
        reply = fcntl.ioctl(sock.fileno(), SIOCGIFADDR,
                            struct.pack("256s", name.encode()[:15]))
    except OSError:            # no IPv4 address on it (down, or IPv6 only)
        return None
    return socket.inet_ntoa(reply[20:24])


def local_addresses() -> list[str]:
    """The machine's IPv4 addresses a phone could use: no loopback, Wi-Fi first."""
    found: list[tuple[int, str, str]] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in interfaces:
            address = _ipv4_of(sock, name)
            if address is None or ipaddress.ip_address(address).is_loopback:
                continue
            found.append((0 if name.startswith("wl") else 1, name, address))
    return [address for _, _, address in sorted(found)]


def page_urls(host: str, port: int, *, addresses: Sequence[str] | None = None,
              hostname: str | None = None) -> list[str]:
    """Where a phone finds the page served on ``host:port``: the IP addresses first
    (every phone), then the mDNS name (``rig.local``) for a wildcard ``host``."""
    if host not in WILDCARD:
        return [f"http://{host}:{port}/"]
    ips = local_addresses() if addresses is None else list(addresses)
    name = (hostname or socket.gethostname()).split(".")[0] + ".local"
    return [f"http://{ip}:{port}/" for ip in ips] + [f"http://{name}:{port}/"]


def best_url(host: str, port: int, **kw: object) -> str:
    """The one address to show where there is room for one."""
    return page_urls(host, port, **kw)[0]   # type: ignore[arg-type]


def qr_link(url: str, token: str) -> str:
    """``url`` with the token, as short as the page accepts it (``?t=``, no dashes)."""
    return f"{url}?t={token.replace('-', '')}"


@lru_cache(maxsize=8)
def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code of ``text`` (no quiet zone): rows of modules, True = dark."""
    import segno
    code = segno.make_qr(text, error="L")
    return tuple(tuple(bool(v) for v in row) for row in code.matrix)


def terminal_qr(text: str) -> str:
    """The QR code as text for a terminal: two rows of modules per line, dark on light.

    Each character is a pair of modules (upper, lower) in half blocks, light
    where the terminal's foreground is, so it reads on a dark terminal, with
    a quiet zone of two modules.
    """
    rows = [list(r) for r in qr_matrix(text)]
    quiet = 2
    width = len(rows[0]) + 2 * quiet
    blank = [False] * width
    rows = [blank] * quiet + [[False] * quiet + r + [False] * quiet for r in rows] \
        + [blank] * (quiet + 1)
    # light modules are drawn (the foreground), dark ones left as the background
    glyph = {(False, False): "█", (False, True): "▀", (True, False): "▄", (True, True): " "}
    lines = []
    for y in range(0, len(rows) - 1, 2):
        lines.append("".join(glyph[(rows[y][x], rows[y + 1][x])] for x in range(width)))
    return "\n".join(lines)
