"""Shared fixtures. Every test runs with its own config, data and cache folders (no user files touched)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    base = tmp_path_factory.getbasetemp() / "viva-home"
    monkeypatch.setenv("VIVA_CONFIG", str(base / "config.toml"))
    monkeypatch.setenv("VIVA_DATA_DIR", str(base / "data"))
    # The cache is shared by the whole test session so the bank is embedded once.
    monkeypatch.setenv("VIVA_CACHE_DIR", str(base / "cache"))
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
