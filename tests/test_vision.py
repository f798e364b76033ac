"""Decoding live-view frames at the size rig needs (JPEG draft mode), and what it keeps."""

import io

import numpy as np
import pytest
from PIL import Image

from rig import vision
from rig.clock import VirtualClock
from rig.sim import PROFILES, SimBody, load_profile
from rig.vision import fingerprint, focus_measure, grey

ROI = (0.3, 0.25, 0.38, 0.45)   # the realistic EF 24mm's subject


def full_decode(jpeg, width):
    """The whole frame decoded, then box-filtered down: what draft mode saves."""
    img = Image.open(io.BytesIO(jpeg)).convert("L")
    img = img.resize((width, round(img.height * width / img.width)), Image.BOX)
    return np.asarray(img, dtype=np.float32)


@pytest.fixture(scope="module")
def sweep():
    body = SimBody(load_profile(PROFILES / "canon-ef24-real.toml"), VirtualClock())
    return {x: body.render(float(x)) for x in range(191, 352, 8)}


def test_a_canon_frame_is_decoded_at_a_fraction_of_its_size(sweep):
    jpeg = next(iter(sweep.values()))
    assert Image.open(io.BytesIO(jpeg)).size == (960, 640)
    assert vision._open(jpeg, 320).size == (480, 320)     # libjpeg decoded at 1/2
    assert vision._open(jpeg, 160).size == (240, 160)     # at 1/4
    assert vision._open(jpeg, 80).size == (120, 80)       # at 1/8
    assert grey(jpeg, 320).shape == (213, 320)
    assert fingerprint(jpeg).shape == (80 * 53,)


def test_draft_decoding_keeps_the_picture(sweep):
    for jpeg in sweep.values():
        draft, full = grey(jpeg, 320), full_decode(jpeg, 320)
        assert np.corrcoef(draft.ravel(), full.ravel())[0, 1] > 0.99
        assert abs(float(draft.mean()) - float(full.mean())) < 0.5


def test_draft_decoding_keeps_the_sharpness_curve(sweep):
    draft = np.array([focus_measure(grey(j, 320), ROI) for j in sweep.values()])
    full = np.array([focus_measure(full_decode(j, 320), ROI) for j in sweep.values()])
    assert np.abs(draft / full - 1).max() < 0.05          # the same curve, within 5 %
    ranks = np.argsort(np.argsort(draft)), np.argsort(np.argsort(full))
    assert np.corrcoef(*ranks)[0, 1] > 0.97
    top = list(sweep)
    assert abs(top[int(np.argmax(draft))] - top[int(np.argmax(full))]) <= 8


def test_draft_fingerprints_measure_the_same_distances_between_frames():
    """The encoder compares fingerprints with fingerprints: the distances must agree."""
    body = SimBody(load_profile(PROFILES / "canon-ef24-real.toml"), VirtualClock())
    frames = [body.render(float(x)) for x in range(0, 408, 34)]
    fast = [fingerprint(j) for j in frames]
    slow = []
    for jpeg in frames:
        arr = full_decode(jpeg, 80).ravel()
        slow.append(arr - arr.mean())
    pairs = np.triu_indices(len(frames), 1)
    d_fast = np.array([[vision.distance(a, b) for b in fast] for a in fast])[pairs]
    d_slow = np.array([[vision.distance(a, b) for b in slow] for a in slow])[pairs]
    assert np.corrcoef(d_fast, d_slow)[0, 1] > 0.999
    assert 0.9 < (d_fast / d_slow).min() and (d_fast / d_slow).max() < 1.25


def test_a_steady_fingerprint_does_not_see_flicker():
    """Flicker scales a frame's brightness: a plain fingerprint moves with it, a steady
    one does not (calibration's "still" and its table use steady ones)."""
    import io as _io

    from PIL import Image as _Image

    from rig.vision import distance as _distance
    from rig.vision import fingerprint as _fingerprint
    from rig.vision import steady_fingerprint as _steady

    rng = np.random.default_rng(3)
    scene = np.clip(110 + 40 * rng.standard_normal((64, 96)), 0, 255)
    scene = np.kron(scene, np.ones((10, 10)))

    def jpeg(gain):
        buf = _io.BytesIO()
        _Image.fromarray(np.clip(scene * gain, 0, 255).astype(np.uint8)).save(
            buf, format="JPEG", quality=90)
        return buf.getvalue()

    plain = _distance(_fingerprint(jpeg(1.0)), _fingerprint(jpeg(1.05)))
    steady = _distance(_steady(jpeg(1.0)), _steady(jpeg(1.05)))
    again = _distance(_steady(jpeg(1.0)), _steady(jpeg(1.0)))
    assert steady < plain / 4 and again == 0.0   # what is left is JPEG rounding
