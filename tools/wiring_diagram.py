"""Draw hardware/img/wiring.png: the Pi's header, the Bonnet, the jack, the encoder, USB.

The pins come from rig's packaged defaults (``rig/data/defaults.toml``), so
the picture follows the config: every ``[buttons]`` pin is drawn with its
input name, on the Bonnet where the Bonnet has that switch and as an extra
switch otherwise, and ``[encoder.focus]`` gives the wheel's A and B.  The
thumb jack and the wheel's push switch take ``buttons.thumb`` and
``encoder.focus.push`` once the config has them, and GPIO12 and GPIO13 until then
(see hardware/wiring.md).

    .venv/bin/python tools/wiring_diagram.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from rig.config import load_config
from rig.pins import BONNET, HEADER, PHYSICAL, PUSH_GPIO, THUMB_GPIO

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "hardware" / "img" / "wiring.png"

RESERVED = {0: "ID_SD (HAT EEPROM)", 1: "ID_SC (HAT EEPROM)", 14: "TXD (console)",
            15: "RXD (console)"}

W, H = 1560, 1110
HX = 780                 # centre between the two header columns
ROW = 32
TOP = 240                # y of pin 1
FONT = ImageFont.load_default(size=15)
SMALL = ImageFont.load_default(size=13)
TITLE = ImageFont.load_default(size=26)

INK = (30, 30, 30)
GREY = (150, 150, 150)
COLOURS = {
    "GND": (20, 20, 20), "3V3": (230, 130, 0), "5V": (210, 30, 30),
    "bonnet": (20, 140, 60), "i2c": (30, 90, 200), "thumb": (150, 40, 170),
    "encoder": (0, 140, 150), "extra": (150, 100, 30), "idle": (205, 205, 205),
}


def pin_xy(pin: int) -> tuple[int, int]:
    row = (pin - 1) // 2
    return (HX - 18 if pin % 2 else HX + 18, TOP + row * ROW)


def roles() -> dict[int, tuple[str, str]]:
    """Physical pin -> (colour key, label) for every pin."""
    config = load_config()
    buttons = config.buttons
    encoder = config["encoder"]["focus"]
    out: dict[int, tuple[str, str]] = {}
    for pin, what in HEADER.items():
        if isinstance(what, str):
            out[pin] = (what, what)
        elif what in RESERVED:
            out[pin] = ("idle", f"GPIO{what} {RESERVED[what]}")
        else:
            out[pin] = ("idle", f"GPIO{what}")
    for gpio in (2, 3):
        out[PHYSICAL[gpio]] = ("i2c", f"GPIO{gpio} {BONNET[gpio]}")
    for name, gpio in buttons.items():
        if gpio in BONNET:
            out[PHYSICAL[gpio]] = ("bonnet", f"GPIO{gpio} {BONNET[gpio]}: {name}")
        else:
            out[PHYSICAL[gpio]] = ("extra", f"GPIO{gpio} extra switch: {name}")
    out[PHYSICAL[buttons.get("thumb", THUMB_GPIO)]] = (
        "thumb", f"GPIO{buttons.get('thumb', THUMB_GPIO)} thumb jack, tip")
    out[PHYSICAL[encoder["a"]]] = ("encoder", f"GPIO{encoder['a']} wheel A")
    out[PHYSICAL[encoder["b"]]] = ("encoder", f"GPIO{encoder['b']} wheel B")
    push = encoder.get("push", PUSH_GPIO)
    out[PHYSICAL[push]] = ("encoder", f"GPIO{push} wheel push")
    return out


def _text(d: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font=FONT,
          fill=INK, anchor: str = "la") -> None:
    d.text(xy, text, font=font, fill=fill, anchor=anchor)


def draw_header(d: ImageDraw.ImageDraw, role: dict[int, tuple[str, str]]) -> None:
    x0, y0 = HX - 40, TOP - 24
    d.rounded_rectangle((x0, y0, HX + 40, TOP + 19 * ROW + 24), radius=6,
                        fill=(40, 40, 40))
    for pin in HEADER:
        x, y = pin_xy(pin)
        key, label = role[pin]
        colour = COLOURS[key]
        d.ellipse((x - 10, y - 10, x + 10, y + 10), fill=colour, outline=(255, 255, 255))
        _text(d, (x, y), str(pin), SMALL, fill=(255, 255, 255), anchor="mm")
        faint = key == "idle"
        if pin % 2:
            _text(d, (x0 - 10, y), label, FONT, fill=GREY if faint else colour, anchor="rm")
        else:
            _text(d, (HX + 50, y), label, FONT, fill=GREY if faint else colour, anchor="lm")


def wire(d: ImageDraw.ImageDraw, pin: int, to: tuple[int, int], colour: tuple) -> None:
    """From the end of a pin's label row out to ``to``, with a corner."""
    x, y = pin_xy(pin)
    start = (HX - 330, y) if pin % 2 else (HX + 330, y)
    mid = (to[0] + (40 if pin % 2 else -40), y)
    d.line([start, mid, (mid[0], to[1]), to], fill=colour, width=3)
    d.ellipse((start[0] - 4, y - 4, start[0] + 4, y + 4), fill=colour)


def draw_bonnet(d: ImageDraw.ImageDraw) -> None:
    x0, y0, x1, y1 = HX - 360, 76, HX + 360, 186
    d.rounded_rectangle((x0, y0, x1, y1), radius=10, fill=(235, 245, 238),
                        outline=COLOURS["bonnet"], width=3)
    d.rectangle((x0 + 20, y0 + 15, x0 + 190, y0 + 95), fill=(10, 10, 10))
    _text(d, (x0 + 105, y0 + 55), "128x64 OLED", SMALL, fill=(220, 230, 255), anchor="mm")
    cx, cy = x0 + 250, y0 + 55        # the joystick
    d.ellipse((cx - 28, cy - 28, cx + 28, cy + 28), outline=COLOURS["bonnet"], width=3)
    d.ellipse((cx - 9, cy - 9, cx + 9, cy + 9), fill=COLOURS["bonnet"])
    for bx, by, name in ((x0 + 330, y0 + 75, "A"), (x0 + 385, y0 + 35, "B")):
        d.ellipse((bx - 16, by - 16, bx + 16, by + 16), fill=COLOURS["bonnet"])
        _text(d, (bx, by), name, FONT, fill=(255, 255, 255), anchor="mm")
    _text(d, (x0 + 430, y0 + 22), "Adafruit 128x64 OLED Bonnet", FONT,
          fill=COLOURS["bonnet"])
    _text(d, (x0 + 430, y0 + 42), "(product 3531)", SMALL, fill=COLOURS["bonnet"])
    _text(d, (x0 + 430, y0 + 64), "plugs onto all 40 pins and", SMALL, fill=INK)
    _text(d, (x0 + 430, y0 + 80), "uses the green and blue ones", SMALL, fill=INK)


def draw_jack(d: ImageDraw.ImageDraw, tip_pin: int, gnd_pin: int) -> None:
    x = 1250
    tip, sleeve = (x, pin_xy(tip_pin)[1]), (x, pin_xy(gnd_pin)[1])
    y0, y1 = tip[1] - 48, sleeve[1] + 14
    colour = COLOURS["thumb"]
    d.rounded_rectangle((x, y0, x + 140, y1), radius=8, outline=colour, width=3)
    _text(d, (x + 70, y0 + 13), "3.5 mm jack", FONT, fill=colour, anchor="mm")
    _text(d, (x + 70, y0 + 29), "(Lumberg 1503 09)", SMALL, fill=colour, anchor="mm")
    _text(d, (x + 8, tip[1]), "T  tip", SMALL, fill=colour, anchor="lm")
    _text(d, (x + 8, sleeve[1]), "S  sleeve", SMALL, fill=colour, anchor="lm")
    wire(d, tip_pin, tip, colour)
    wire(d, gnd_pin, sleeve, COLOURS["GND"])
    # the plug, the cable and the button in the operator's hand, above the jack
    py = (tip[1] + sleeve[1]) // 2
    px = x + 140
    d.line([(px, py), (px + 30, py)], fill=INK, width=8)
    top = y0 - 170
    d.line([(px + 30, py), (px + 80, py), (px + 80, top + 56)], fill=INK, width=3)
    d.ellipse((px + 52, top, px + 108, top + 56), fill=colour)
    _text(d, (px + 80, top + 28), "push", SMALL, fill=(255, 255, 255), anchor="mm")
    _text(d, (px + 70, top - 36), "thumb button", FONT, fill=colour, anchor="mm")
    _text(d, (px + 70, top - 18), "on a cable, 3.5 mm plug", SMALL, fill=colour, anchor="mm")


def draw_encoder(d: ImageDraw.ImageDraw, a: int, b: int, push: int, gnd: int) -> None:
    x, x1 = 70, 290
    y0, y1 = pin_xy(push)[1] - 50, pin_xy(gnd)[1] + 18
    colour = COLOURS["encoder"]
    d.rounded_rectangle((x, y0, x1, y1), radius=8, outline=colour, width=3)
    _text(d, (x + 10, y0 + 8), "rotary encoder with push", FONT, fill=colour)
    _text(d, (x + 10, y0 + 26), "(Bourns PEC11R-4215F-S0024)", SMALL, fill=colour)
    cy = (pin_xy(push)[1] + pin_xy(gnd)[1]) // 2
    d.ellipse((x + 14, cy - 40, x + 94, cy + 40), outline=colour, width=3)
    _text(d, (x + 54, cy), "EC11", FONT, fill=colour, anchor="mm")
    for name, pin in (("SW", push), ("A", a), ("B", b), ("C + SW2", gnd)):
        end = (x1, pin_xy(pin)[1])
        _text(d, (end[0] - 8, end[1]), name, SMALL, fill=colour, anchor="rm")
        wire(d, pin, end, COLOURS["GND"] if name.startswith("C") else colour)
    _text(d, (x, y1 + 8), "C and the switch's second leg are joined", SMALL, fill=INK)
    _text(d, (x, y1 + 24), "at the encoder: one GND wire", SMALL, fill=INK)


def draw_extras(d: ImageDraw.ImageDraw, role: dict[int, tuple[str, str]]) -> None:
    extras = [pin for pin, (key, _) in role.items() if key == "extra"]
    for pin in sorted(extras):
        x, y = 1200, pin_xy(pin)[1]
        colour = COLOURS["extra"]
        wire(d, pin, (x, y), colour)
        d.line([(x, y), (x + 20, y), (x + 44, y - 12)], fill=colour, width=3)
        d.line([(x + 48, y), (x + 70, y)], fill=colour, width=3)
        _text(d, (x + 78, y), "to GND (optional)", SMALL, fill=colour, anchor="lm")


def draw_usb_and_power(d: ImageDraw.ImageDraw) -> None:
    y = TOP + 20 * ROW + 30
    # the Pi's ports, under the header
    d.rounded_rectangle((HX - 150, y, HX + 150, y + 60), radius=6, outline=INK, width=2)
    _text(d, (HX, y + 18), "Raspberry Pi (Zero 2 W or 4)", FONT, anchor="mm")
    _text(d, (HX - 75, y + 44), "USB (OTG on a Zero)", SMALL, anchor="mm")
    _text(d, (HX + 85, y + 44), "5 V power in", SMALL, anchor="mm")
    # camera
    cam = (HX - 620, y + 20, HX - 380, y + 120)
    d.rounded_rectangle(cam, radius=12, fill=(60, 60, 60))
    d.ellipse((cam[0] + 150, cam[1] + 15, cam[0] + 230, cam[1] + 95), fill=(20, 20, 20),
              outline=(200, 200, 200), width=3)
    _text(d, (cam[0] + 10, cam[1] + 10), "camera", FONT, fill=(255, 255, 255))
    _text(d, (cam[0] + 10, cam[1] + 30), "lens on AF", SMALL, fill=(255, 255, 255))
    d.line([(HX - 75, y + 60), (HX - 75, y + 90), (cam[2], y + 90)], fill=COLOURS["i2c"],
           width=5)
    _text(d, ((HX - 75 + cam[2]) / 2, y + 104), "USB cable to the camera's port",
          SMALL, fill=COLOURS["i2c"], anchor="mm")
    _text(d, ((HX - 75 + cam[2]) / 2, y + 120), "(clamped at both ends)", SMALL,
          fill=COLOURS["i2c"], anchor="mm")
    # power bank
    bank = (HX + 380, y + 30, HX + 600, y + 110)
    d.rounded_rectangle(bank, radius=10, outline=COLOURS["5V"], width=3)
    _text(d, (bank[0] + 110, bank[1] + 28), "USB power bank", FONT, fill=COLOURS["5V"],
          anchor="mm")
    _text(d, (bank[0] + 110, bank[1] + 50), "always-on (no low-current", SMALL,
          fill=COLOURS["5V"], anchor="mm")
    _text(d, (bank[0] + 110, bank[1] + 66), "switch-off)", SMALL, fill=COLOURS["5V"],
          anchor="mm")
    d.line([(HX + 85, y + 60), (HX + 85, y + 70), (bank[0], y + 70)], fill=COLOURS["5V"],
           width=5)


def draw() -> Image.Image:
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    role = roles()
    config = load_config()
    enc = config["encoder"]["focus"]
    buttons = config.buttons
    _text(d, (30, 20), "rig: wiring", TITLE)
    _text(d, (30, 52), "40-pin header seen from above, pin 1 top left (BCM GPIO numbers); "
                       "every switch closes to GND, rig turns on the internal pull-ups",
          SMALL, fill=INK)
    draw_bonnet(d)
    draw_header(d, role)
    draw_encoder(d, PHYSICAL[enc["a"]], PHYSICAL[enc["b"]],
                 PHYSICAL[enc.get("push", PUSH_GPIO)], 39)
    draw_jack(d, PHYSICAL[buttons.get("thumb", THUMB_GPIO)], 34)
    draw_extras(d, role)
    draw_usb_and_power(d)
    legend = [("bonnet", "on the Bonnet"), ("i2c", "I2C (OLED) / USB"),
              ("thumb", "thumb jack"), ("encoder", "focus wheel"), ("extra", "extra switch"),
              ("GND", "ground"), ("3V3", "3.3 V"), ("5V", "5 V")]
    for i, (key, text) in enumerate(legend):
        x = 30 + i * 185
        d.ellipse((x, H - 36, x + 16, H - 20), fill=COLOURS[key])
        _text(d, (x + 24, H - 28), text, SMALL, anchor="lm")
    return img


def main(out: Path = OUT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    draw().save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
