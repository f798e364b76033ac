"""Every OLED screen against its reference picture in tests/golden/.

A renderer change that moves a pixel fails here with the name of the screen.
If the change is meant, regenerate the references, look at them, commit them::

    .venv/bin/python -m pytest tests/test_screens.py --update-golden

(``make golden`` does the same).
"""

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from rig.cli import main
from rig.screens import draw, samples

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = samples()


def test_every_screen_has_a_distinct_sample():
    names = [s.name for s in SAMPLES]
    assert len(names) == len(set(names))
    pictures = {draw(s).tobytes() for s in SAMPLES}
    assert len(pictures) == len(SAMPLES)       # no two samples show the same picture


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_screen_matches_its_reference(sample, update_golden, tmp_path):
    path = GOLDEN / f"{sample.name}.png"
    img = draw(sample)
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        img.save(path)
        return
    assert path.exists(), f"no reference {path}: run pytest --update-golden"
    ref = Image.open(path).convert("L")
    diff = ImageChops.difference(ref, img.convert("L")).getbbox()
    if diff is not None:
        img.save(tmp_path / path.name)
        pytest.fail(f"{sample.name} differs from {path} in {diff} (now: "
                    f"{tmp_path / path.name}); if meant: pytest --update-golden")


def test_no_reference_without_a_screen():
    if not GOLDEN.exists():
        pytest.skip("no references yet")
    names = {s.name for s in SAMPLES}
    assert {p.stem for p in GOLDEN.glob("*.png")} <= names


def test_rig_screens_writes_the_gallery(tmp_path, capsys):
    assert main(["screens", "--out", str(tmp_path), "--scale", "2"]) == 0
    for sample in SAMPLES:
        img = Image.open(tmp_path / f"{sample.name}.png")
        assert img.size[0] > 256 and img.size[1] > 128
    assert (tmp_path / "gallery.png").exists() and (tmp_path / "play-countdown.gif").exists()
    assert f"{len(SAMPLES)} screens" in capsys.readouterr().out
