"""Settings: defaults < config file < VIVA_* environment; `viva config` shows them without secrets."""

from __future__ import annotations

import json

from agent.cli import main
from agent.config import config_path, get_settings, reset_settings


def test_file_then_environment(monkeypatch, capsys) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('judge_model = "from-file"\nquestions_per_session = 7\njudge_api_key = "sk-secret"\n')
    try:
        reset_settings()
        assert get_settings().judge_model == "from-file" and get_settings().questions_per_session == 7
        monkeypatch.setenv("VIVA_JUDGE_MODEL", "from-env")
        reset_settings()
        assert get_settings().judge_model == "from-env"
        assert main(["config", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["judge_model"] == "from-env" and shown["questions_per_session"] == 7
        assert shown["judge_api_key"] == "***"
        assert main(["config", "path"]) == 0
        assert capsys.readouterr().out.strip() == str(path)
    finally:
        path.unlink()
        reset_settings()
