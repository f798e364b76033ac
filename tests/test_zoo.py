"""The lens zoo: profiles drawn from the realistic space, and the TOML writer they go through."""

import dataclasses
import tomllib

import numpy as np
import pytest

from rig.inputs import InputError
from rig.sim import PROFILES, load_profile, parse_profile
from rig.zoo import APERTURES, EF24_SPEEDS, draw, dump, profile

SEEDS = range(400)


@pytest.fixture(scope="module")
def draws():
    return [draw(seed) for seed in SEEDS]


def test_the_same_seed_gives_the_same_lens_and_others_differ(draws):
    assert draw(7) == draws[7]
    assert len({d["lens"] for d in draws}) == len(draws)
    assert len({d["steps"] for d in draws}) > 250


def test_dump_reads_back_identically_on_every_seed(draws, tmp_path):
    for values in draws:
        text = dump(values)
        assert tomllib.loads(text) == values
        path = tmp_path / "zoo.toml"
        path.write_text(text)
        loaded = load_profile(path)
        assert loaded == dataclasses.replace(profile(values["seed"]), source=str(path))


def test_dump_writes_any_shipped_profile_back_the_same():
    for path in sorted(PROFILES.glob("*.toml")):
        values = tomllib.loads(path.read_text())
        again = parse_profile(dump(values), str(path))
        assert again == load_profile(path)


def test_dump_escapes_strings_and_refuses_what_toml_cannot_hold():
    values = {"lens": 'a "quoted"\tname\\ with \x7f and \u00e9', "odd key": 1,
              "t": {"empty": {}, "n": [1, 2.5]}}
    assert tomllib.loads(dump(values)) == values
    for bad in ({"x": float("nan")}, {"x": object()}, {"x": [{"a": 1}, 2]}):
        with pytest.raises(ValueError):
            dump(bad)


def test_a_drawn_profile_is_checked_like_a_file(draws):
    broken = dict(draws[0], steps=5)
    with pytest.raises(InputError) as err:
        parse_profile(dump(broken), "<zoo>")
    assert "steps" in str(err.value)


def test_draws_cover_the_realistic_space(draws):
    """Issue 13, Deliver 5: every range reached, nothing outside it."""
    optics = [d["optics"] for d in draws]
    focal = [o["focal_mm"] for o in optics]
    assert min(focal) == 14 and max(focal) == 200
    assert {o["f_number"] for o in optics} >= set(APERTURES)
    assert sum(d["lens"].endswith("Macro #%d" % d["seed"]) for d in draws) > 20
    for o in optics:
        mfd = o["min_focus_m"]
        assert 0.15 <= mfd <= 0.1 + o["focal_mm"] * 0.009 + 0.005      # plausible for its length
        assert 0 <= o["breathing"] <= 0.08
    steps = [d["steps"] for d in draws]
    assert 300 <= min(steps) < 350 and 1350 < max(steps) <= 1400
    r2 = [d["drive"]["2"]["steps"] for d in draws]
    r3 = [d["drive"]["3"]["steps"] for d in draws]
    assert min(r2) < 4.0 and max(r2) > 6.4 and min(r3) < 26 and max(r3) > 46
    far = [d["drive"][k]["steps_far"] / d["drive"][k]["steps"] for d in draws for k in "23"]
    assert 0.87 - 1e-3 <= min(far) < 0.89 and 1.11 < max(far) <= 1.13 + 1e-3
    for d in draws:
        # Size 1 is the unit of position: one step everywhere.
        assert d["drive"]["1"] == {"steps": 1.0, "jitter": 0.0,
                                   "speed": d["drive"]["1"]["speed"]}
        assert d["drive"]["2"]["jitter"] <= d["drive"]["3"]["jitter"] <= 1.5
        assert 15 <= d["latency_ms"] <= 60
        assert d["latency_jitter_ms"] <= 0.25 * d["latency_ms"] + 0.05     # rounded to 0.1 ms
        assert 70 <= d["preview_ms"] <= 130 and d["preview_size"] == [960, 640]
        assert 1 <= d["scene"]["noise"] <= 4 and 0 <= d["scene"]["flicker"] <= 0.03
        background, subject = d["scene"]["layers"]
        mfd = d["optics"]["min_focus_m"]
        assert mfd < subject["distance_m"] <= 3 * mfd + 1 + 1e-9
        assert background["distance_m"] > subject["distance_m"] and "box" not in background
        assert 0 <= d["backlash"] <= 5 and 0 <= d["start"] <= d["steps"]
        for k, base in zip("123", EF24_SPEEDS):
            assert 0.6 * base < d["drive"][k]["speed"] < 1.6 * base
    assert max(d["drive"]["3"]["jitter"] for d in draws) > 1.4
    assert max(d["backlash"] for d in draws) > 4.8 and min(d["backlash"] for d in draws) < 0.2
    assert {d["busy"] for d in draws} == {"queue", "drop", "error"}
    assert {d["queue_depth"] for d in draws if d["busy"] == "queue"} == {3, 4, 5}
    assert all(("queue_depth" in d) == (d["busy"] == "queue") for d in draws)
    lat = [d["latency_ms"] for d in draws]
    assert min(lat) < 17 and max(lat) > 58
    flicker = [d["scene"]["flicker"] for d in draws]
    assert max(flicker) > 0.028
    # the subject sits anywhere in the range, the background nearer the far stop
    sharp = np.array([profile(d["seed"]).subject / d["steps"] for d in draws[:100]])
    assert sharp.min() < 0.15 and sharp.max() > 0.85
