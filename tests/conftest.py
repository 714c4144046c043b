"""Shared fixtures. Every test runs with its own config, data and cache folders (no user files touched)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent

# The user's own settings never reach a test. This runs when pytest imports this file, before collection and
# before any session or module fixture (pytest sets those up before function fixtures, so an autouse function
# fixture alone comes too late for them): every VIVA_* variable from the user's shell is dropped, and the
# config, data and cache folders (VIVA_* and the XDG folders platformdirs reads) point into one temporary
# folder for the whole run. The cache is shared by the run so the bank is embedded once.
_HOME = Path(tempfile.mkdtemp(prefix="viva-tests-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
ISOLATED_ENV = {
    "VIVA_CONFIG": str(_HOME / "config.toml"),
    "VIVA_DATA_DIR": str(_HOME / "data"),
    "VIVA_CACHE_DIR": str(_HOME / "cache"),
    "XDG_CONFIG_HOME": str(_HOME / "xdg-config"),
    "XDG_DATA_HOME": str(_HOME / "xdg-data"),
    "XDG_CACHE_HOME": str(_HOME / "xdg-cache"),
    # the light bundled Whisper on every machine ("auto" loads another model on a GPU, and the speech tests
    # would hear it); tests/test_packaged_whisper.py loads Whisper base itself
    "VIVA_WHISPER_MODEL": "bundled",
}
for _k in [k for k in os.environ if k.startswith("VIVA_")]:
    del os.environ[_k]
os.environ.update(ISOLATED_ENV)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch):
    for k, v in ISOLATED_ENV.items():  # whatever an earlier test left behind
        monkeypatch.setenv(k, v)
    from agent.config import reset_settings

    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="session")
def bank():
    from agent.bank import load_bank

    return load_bank()


@pytest.fixture
def store(tmp_path: Path):
    """A history database of the test's own, closed afterwards."""
    from agent.store import Store

    s = Store(tmp_path / "history.sqlite3")
    yield s
    s.close()
