"""Tests never read the user's config, data or cache folders, nor VIVA_* settings from the user's shell.

The last test runs this file's probes in a fresh pytest with a hostile user home: a config file whose
``bank_dirs`` holds a malformed question, VIVA_* variables pointing at the user's folders, and the XDG
folders platformdirs reads. The probes look from every scope pytest has: collection, session and module
fixtures (set up before any function fixture) and the tests themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import config_path, get_settings

REPO = Path(__file__).resolve().parent.parent
AT_COLLECTION = (config_path(), get_settings().bank_dirs, get_settings().data_dir, get_settings().cache_dir)
USER_HOME = os.environ.get("VIVATEST_USER_HOME")


def _outside_user_home(path: Path) -> bool:
    return USER_HOME is None or not Path(path).resolve().is_relative_to(Path(USER_HOME).resolve())


@pytest.fixture(scope="session")
def session_settings():
    return config_path(), get_settings()


@pytest.fixture(scope="module")
def module_settings():
    from agent.bank import default_bank

    return config_path(), get_settings(), default_bank()


def test_probe_collection():
    cfg, bank_dirs, data, cache = AT_COLLECTION
    assert bank_dirs == []
    assert all(_outside_user_home(p) for p in (cfg, data, cache))


def test_probe_session_and_module_fixtures(session_settings, module_settings):
    for cfg, settings in (session_settings, module_settings[:2]):
        assert settings.bank_dirs == [] and not settings.judge
        assert all(_outside_user_home(p) for p in (cfg, settings.data_dir, settings.cache_dir))
    assert not module_settings[2].user


def test_probe_test():
    s = get_settings()
    assert s.bank_dirs == [] and not s.judge
    assert all(_outside_user_home(p) for p in (config_path(), s.data_dir, s.cache_dir))
    assert not any(k.startswith("VIVA_") and k not in ("VIVA_CONFIG", "VIVA_DATA_DIR", "VIVA_CACHE_DIR",
                                                       "VIVA_WHISPER_MODEL") for k in os.environ)
    assert os.environ["VIVA_WHISPER_MODEL"] == "bundled"  # the tests' own choice (conftest), not the user's


@pytest.mark.skipif(USER_HOME is not None, reason="the probe run itself")
def test_user_config_with_bad_bank_dirs_never_reaches_tests(tmp_path):
    home = tmp_path / "home"
    bank = home / "my-bank"
    (bank / "questions").mkdir(parents=True)
    (bank / "rubrics").mkdir()
    (bank / "questions" / "broken.yaml").write_text("id: broken\nprompt: [unclosed\n", encoding="utf-8")
    cfg_dir = home / ".config" / "viva"
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "config.toml").write_text(f'bank_dirs = ["{bank}"]\njudge = true\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVA_", "XDG_"))}
    env.update(
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"), VIVATEST_USER_HOME=str(home),
        VIVA_BANK_DIRS=f'["{bank}"]', VIVA_JUDGE="true", VIVA_DATA_DIR=str(home / "data"),
        VIVA_CACHE_DIR=str(home / ".cache" / "viva"), VIVA_CONFIG=str(cfg_dir / "config.toml"),
        VIVA_WHISPER_MODEL="large-v3",
    )
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "probe",
                        str(Path(__file__))], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "3 passed" in r.stdout
    assert not (home / "data").exists() and not (home / ".cache").exists()
    assert not (home / ".local").exists()
