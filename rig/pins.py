"""The Raspberry Pi's 40-pin header and what the default hardware puts on it.

Facts of the hardware, shared by the wiring guide's picture
(``tools/wiring_diagram.py``) and its test: which BCM GPIO sits on which
physical pin, which GPIOs the Adafruit 128x64 OLED Bonnet (product 3531)
uses, and the pins hardware/wiring.md gives the thumb jack and the focus
wheel's push switch.
"""

from __future__ import annotations

__all__ = ["HEADER", "PHYSICAL", "BONNET", "THUMB_GPIO", "PUSH_GPIO"]

#: Physical pin -> BCM GPIO number, or the name of a supply or ground pin.
HEADER: dict[int, int | str] = {
    1: "3V3", 2: "5V", 3: 2, 4: "5V", 5: 3, 6: "GND", 7: 4, 8: 14, 9: "GND", 10: 15,
    11: 17, 12: 18, 13: 27, 14: "GND", 15: 22, 16: 23, 17: "3V3", 18: 24, 19: 10, 20: "GND",
    21: 9, 22: 25, 23: 11, 24: 8, 25: "GND", 26: 7, 27: 0, 28: 1, 29: 5, 30: "GND",
    31: 6, 32: 12, 33: 13, 34: "GND", 35: 19, 36: 16, 37: 26, 38: 20, 39: "GND", 40: 21,
}

#: BCM GPIO number -> physical pin.
PHYSICAL: dict[int, int] = {gpio: pin for pin, gpio in HEADER.items() if isinstance(gpio, int)}

#: What the OLED Bonnet connects, by BCM GPIO.
BONNET: dict[int, str] = {
    2: "SDA (OLED)", 3: "SCL (OLED)", 4: "joystick centre", 17: "joystick up",
    22: "joystick down", 27: "joystick left", 23: "joystick right", 5: "button A",
    6: "button B",
}

THUMB_GPIO = 12   # the 3.5 mm thumb jack's tip (physical pin 32, ground on 34)
PUSH_GPIO = 13    # the focus wheel's push switch (physical pin 33, ground on 39)
