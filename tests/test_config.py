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


def test_a_bad_setting_is_said_in_one_line_with_where_it_came_from(monkeypatch, capsys) -> None:
    """A bad value, from the environment or the config file, stops every command (and the app) with one line
    naming the setting, its value, where it came from and what it may be: no traceback."""
    monkeypatch.setenv("VIVA_GRADER_PRECISION", "fp8")
    reset_settings()
    try:
        assert main(["score", "clm-loss", "The loss is cross-entropy."]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "grader_precision = 'fp8'" in err and "VIVA_GRADER_PRECISION" in err and "'float32'" in err
        assert main([]) == 2  # the app: said before it starts
        assert "grader_precision" in capsys.readouterr().err
        monkeypatch.delenv("VIVA_GRADER_PRECISION")
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("whisper_beam_size = 40\n")
        try:
            reset_settings()
            assert main(["config"]) == 2
            err = capsys.readouterr().err
            assert "whisper_beam_size = 40" in err and str(path) in err and "less than or equal to 10" in err
        finally:
            path.unlink()
    finally:
        reset_settings()
