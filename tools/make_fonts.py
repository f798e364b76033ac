"""Convert the Spleen bitmap fonts to Pillow's own bitmap font format.

rig draws the OLED with Spleen (Frederic Cambus, BSD 2-clause licence), a
monospaced pixel font made for screens.  Debian ships it as Linux console
fonts (package ``fonts-spleen``, ``/usr/share/consolefonts/spleen-*.psfu.gz``).
This script reads those PSF files, keeps the Latin-1 characters, writes them
as BDF and lets Pillow's ``BdfFontFile`` turn that into ``.pil`` + ``.pbm``,
which ``ImageFont.load`` reads without FreeType.  The results are committed
in ``rig/data/fonts/``; run this again only to change the set of sizes::

    apt-get download fonts-spleen && dpkg-deb -x fonts-spleen_*.deb x
    python3 tools/make_fonts.py x/usr/share/consolefonts rig/data/fonts
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
from pathlib import Path

from PIL import BdfFontFile

SIZES = ("5x8", "6x12", "8x16", "12x24", "16x32")


def read_psf(data: bytes) -> tuple[int, int, dict[int, bytes]]:
    """(width, height, {codepoint: glyph rows}) from a PSF1 or PSF2 font."""
    if data[:2] == b"\x36\x04":
        mode, height = data[2], data[3]
        count, width, offset, size = (512 if mode & 1 else 256), 8, 4, data[3]
        glyphs = [data[offset + i * size: offset + (i + 1) * size] for i in range(count)]
        table = data[offset + count * size:]
        codes = _unicode_psf1(table, count) if mode & 2 else {i: [i] for i in range(count)}
    else:
        magic, _, offset, flags, count, size, height, width = struct.unpack("<8I", data[:32])
        assert magic == 0x864AB572, "not a PSF font"
        glyphs = [data[offset + i * size: offset + (i + 1) * size] for i in range(count)]
        table = data[offset + count * size:]
        codes = _unicode_psf2(table, count) if flags & 1 else {i: [i] for i in range(count)}
    out: dict[int, bytes] = {}
    for index, cps in codes.items():
        for cp in cps:
            out.setdefault(cp, glyphs[index])
    return width, height, out


def _unicode_psf2(table: bytes, count: int) -> dict[int, list[int]]:
    out, pos = {}, 0
    for index in range(count):
        end = table.index(b"\xff", pos)
        entry = table[pos:end].split(b"\xfe")[0]      # single code points only
        out[index] = [ord(c) for c in entry.decode("utf-8")]
        pos = end + 1
    return out


def _unicode_psf1(table: bytes, count: int) -> dict[int, list[int]]:
    out, pos = {}, 0
    for index in range(count):
        cps = []
        while True:
            (cp,) = struct.unpack_from("<H", table, pos)
            pos += 2
            if cp == 0xFFFF:
                break
            if cp != 0xFFFE:
                cps.append(cp)
        out[index] = cps
    return out


def to_bdf(name: str, width: int, height: int, glyphs: dict[int, bytes]) -> bytes:
    row_bytes = (width + 7) // 8
    chars = sorted(cp for cp in glyphs if 32 <= cp < 256)
    lines = ["STARTFONT 2.1", f"FONT spleen-{name}", f"SIZE {height} 72 72",
             f"FONTBOUNDINGBOX {width} {height} 0 {-(height // 4)}", "STARTPROPERTIES 2",
             f"FONT_ASCENT {height - height // 4}", f"FONT_DESCENT {height // 4}",
             "ENDPROPERTIES", f"CHARS {len(chars)}"]
    for cp in chars:
        rows = glyphs[cp]
        lines += [f"STARTCHAR U+{cp:04X}", f"ENCODING {cp}", f"SWIDTH {width * 1000 // height} 0",
                  f"DWIDTH {width} 0", f"BBX {width} {height} 0 {-(height // 4)}", "BITMAP"]
        lines += [rows[r * row_bytes:(r + 1) * row_bytes].hex().upper() for r in range(height)]
        lines.append("ENDCHAR")
    lines.append("ENDFONT")
    return ("\n".join(lines) + "\n").encode("ascii")


def main(source: str, dest: str) -> None:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        width, height, glyphs = read_psf(gzip.decompress(
            (Path(source) / f"spleen-{size}.psfu.gz").read_bytes()))
        font = BdfFontFile.BdfFontFile(io.BytesIO(to_bdf(size, width, height, glyphs)))
        font.save(str(out / f"spleen-{size}"))
        print(f"spleen-{size}: {width}x{height}, "
              f"{sum(1 for cp in glyphs if 32 <= cp < 256)} characters")


if __name__ == "__main__":
    main(*sys.argv[1:3])
