"""Files root writes into the service's state directory stay the service's.

``sudo rig doctor`` makes the web token, ``sudo rig lenses import`` a lens
profile, in /var/lib/rig, which belongs to the rig user: a file left
root's, mode 0600, would lock the service out of it.  Written as root into a
directory someone else owns, a file (and any directory made for it) goes to
that owner.
"""

import json
import os

import pytest

from rig.cli import main
from rig.store import Store
from rig.web import token_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as sudo rig ... runs")

SERVICE = 65534          # nobody: stands in for the rig user


@pytest.fixture
def state(tmp_path):
    state = tmp_path / "var-lib-rig"
    state.mkdir()
    os.chown(state, SERVICE, SERVICE)
    return state


def owned(path):
    st = path.stat()
    return st.st_uid, st.st_gid


def test_a_token_made_by_root_belongs_to_the_service(state):
    token_for(state)
    path = state / "web-token"
    assert owned(path) == (SERVICE, SERVICE)
    assert path.stat().st_mode & 0o777 == 0o600          # still private, but the service's


def test_an_imported_profile_and_its_folder_belong_to_the_service(state, tmp_path, capsys):
    profile = tmp_path / "ef24.json"
    profile.write_text(json.dumps({
        "lens": "Canon EF 24mm f/2.8 IS USM", "camera": "Canon EOS 5D Mark III",
        "steps": 407, "drive": [{"size": 1, "steps": 1.0, "speed": 23.5},
                                {"size": 2, "steps": 4.0, "speed": 48.7},
                                {"size": 3, "steps": 26.0, "speed": 94.3}]}))
    assert main(["lenses", "import", str(profile), "--state-dir", str(state)]) == 0
    saved = next((state / "lenses").glob("*.json"))
    assert owned(state / "lenses") == owned(saved) == (SERVICE, SERVICE)
    # Set again (a second write: the backup too).
    assert main(["lenses", "set", "ef24", "--min-focus", "0.2", "--state-dir", str(state)]) == 0
    for path in (state / "lenses").iterdir():
        assert owned(path) == (SERVICE, SERVICE), path


def test_in_roots_own_directory_files_stay_roots(tmp_path):
    Store(tmp_path / "mine").save_sequence(())
    assert owned(tmp_path / "mine" / "sequence.json") == (0, 0)
