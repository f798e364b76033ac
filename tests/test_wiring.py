"""hardware/wiring.md and its picture say what the config and the header say."""

import importlib.util
import re
from pathlib import Path

from rig.config import load_config
from rig.pins import BONNET, HEADER, PHYSICAL, PUSH_GPIO, THUMB_GPIO

ROOT = Path(__file__).resolve().parent.parent
WIRING = ROOT / "hardware" / "wiring.md"


def _pin_table():
    """The rows of the pin table: (what, input, gpio or None, header pin)."""
    text = WIRING.read_text()
    table = text[text.index("## Pin table"):]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[3].isdigit():
            what, key, gpio, pin, _ = cells
            rows.append((what, key, None if gpio == "—" else int(gpio), int(pin)))
    return rows


def test_the_pin_table_matches_the_default_config_and_the_header():
    config = load_config()
    rows = _pin_table()
    assert len(rows) >= 15
    for what, key, gpio, pin in rows:
        if gpio is None:
            assert HEADER[pin] == "GND", what
            continue
        assert PHYSICAL[gpio] == pin, f"{what}: GPIO{gpio} is on pin {PHYSICAL[gpio]}"
        found = re.fullmatch(r"`buttons\.(\w+)`", key)
        if found:
            assert config.buttons[found[1]] == gpio, key
        found = re.fullmatch(r"`encoder\.focus\.(a|b|push)`", key)
        if found:
            assert config["encoder"]["focus"][found[1]] == gpio, key
        if what.startswith("joystick") or what.startswith("button") or "OLED" in what:
            assert gpio in BONNET, what
    gpios = [gpio for _, _, gpio, _ in rows if gpio is not None]
    assert len(gpios) == len(set(gpios))                       # no pin twice
    keys = {key for _, key, _, _ in rows}
    assert {f"`buttons.{name}`" for name in config.buttons} <= keys   # every input listed
    by_what = {what: gpio for what, _, gpio, _ in rows}
    assert by_what["thumb jack, tip"] == THUMB_GPIO == config.buttons["thumb"]
    assert by_what["focus wheel push"] == PUSH_GPIO == config["encoder"]["focus"]["push"]


def test_the_guide_ends_with_the_controls_heading_for_the_button_map():
    headings = [line for line in WIRING.read_text().splitlines() if line.startswith("## ")]
    assert headings[-1] == "## Controls"


def test_the_controls_card_is_the_default_button_map():
    """The card in the guide is what the OLED's help screen draws from the defaults."""
    from rig.controls import describe
    from rig.display import CARD_ORDER
    text = WIRING.read_text()
    card = text[text.index("## Controls"):]
    rows = [tuple(c.strip().strip("`") for c in line.strip().strip("|").split("|"))
            for line in card.splitlines() if line.startswith("| `")]
    assert rows == describe(load_config().bindings, CARD_ORDER)


def test_the_wiring_diagram_draws_every_wired_pin_in_its_colour():
    spec = importlib.util.spec_from_file_location("wiring_diagram",
                                                  ROOT / "tools" / "wiring_diagram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    img = module.draw()
    colours = module.COLOURS
    config = load_config()
    expect = {PHYSICAL[gpio]: "bonnet" if gpio in BONNET else "extra"
              for gpio in config.buttons.values()}
    expect |= {PHYSICAL[THUMB_GPIO]: "thumb", PHYSICAL[PUSH_GPIO]: "encoder",
               PHYSICAL[config["encoder"]["focus"]["a"]]: "encoder", 3: "i2c", 39: "GND"}
    for pin, key in expect.items():
        x, y = module.pin_xy(pin)
        # above the pin's number, inside its disc
        assert img.getpixel((x, y - 8)) == colours[key], f"pin {pin} should be {key}"
