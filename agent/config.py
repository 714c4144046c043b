"""Settings: defaults < config file (TOML) < environment (VIVA_ prefix) < explicit overrides.

The config file lives at ``<user config dir>/viva/config.toml`` (``viva config path`` prints it) or
wherever ``VIVA_CONFIG`` points. Paths default to the platform's data/cache folders (platformdirs).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

APP = "viva"


def _user_dir(kind: str) -> Path:
    import platformdirs

    fn = {"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir,
          "config": platformdirs.user_config_dir}[kind]
    return Path(fn(APP, appauthor=False))


def config_path() -> Path:
    env = os.environ.get("VIVA_CONFIG")
    return Path(env).expanduser() if env else _user_dir("config") / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIVA_", extra="ignore", env_nested_delimiter="__")

    # paths
    data_dir: Path = Field(default_factory=lambda: _user_dir("data"), description="history database, audio")
    cache_dir: Path = Field(default_factory=lambda: _user_dir("cache"), description="embedding/TTS/judge caches")
    bank_dirs: list[Path] = Field(default_factory=list, description="extra folders with questions/ and rubrics/")

    # grading
    grader: str = Field(default="stacked", description="the scorer that grades answers, by registry name: "
                        "'stacked' (the three below joined by a model fitted on graded answers, the default), "
                        "'embedding' (sentence similarity), 'entail' (learned entailment) or 'contrastive' (the "
                        "tuned encoder)")
    regression_grader: str = Field(default="embedding", description="the scorer `viva grade` checks the sample "
                                   "answers' bands with (--grader overrides it): 'embedding', the rubric-driven "
                                   "grader whose exemplars and terms the bands and explanations are written for")
    embedding_model: str = Field(default="bundled", description="'bundled' or any sentence-transformers name/path")
    grader_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="the entailment cross-encoder's arithmetic: 'auto' (bfloat16 on a CPU with "
        "bfloat16 matrix units, where it takes about half the time; else float32), 'float32' or 'bfloat16'")
    grade_drafts: bool = Field(default=True, description="in the app, grade a typed answer in the background while "
                               "it is written (each draft that stands for a moment), so that the grade shows sooner "
                               "once it is submitted; the grade is the same either way")
    max_answer_chars: int = Field(default=20_000, description="longer answers are cut here (and the cut is said)")

    # speech
    voice: bool = True
    tts_engine: Literal["piper", "espeak", "none"] = "piper"
    tts_voice: str = Field(default="bundled", description="'bundled' or a path to a Piper .onnx voice")
    whisper_model: str = Field(default="auto", description="'auto' (on a CUDA GPU distil-large-v3 or large-v3 "
                               "when installed, else Whisper base from viva[whisper-base]; on a CPU the bundled "
                               "tiny.en), 'bundled', 'base', a faster-whisper size name or a path")
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_beam_size: int = Field(default=5, ge=1, le=10, description="beam search width (1 = greedy, faster)")
    endpoint_silence_s: float = Field(default=1.5, gt=0, description="silence that ends a spoken answer")
    max_answer_s: float = Field(default=180.0, gt=0, description="longest spoken answer")
    keep_audio: bool = Field(default=False, description="keep recorded answers next to the history")

    # judge (optional LLM through any OpenAI-compatible endpoint)
    judge: bool = False
    judge_model: str = "gpt-4o-mini"
    judge_base_url: str | None = Field(default=None, description="falls back to OPENAI_BASE_URL")
    judge_api_key: str | None = Field(default=None, description="falls back to OPENAI_API_KEY")
    judge_timeout_s: float = 30.0
    judge_concurrency: int = 4

    # interview
    questions_per_session: int = 5
    theme: Literal["dark", "light"] = "dark"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from pydantic_settings import TomlConfigSettingsSource

        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path()))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "history.sqlite3"


def get_settings(**overrides: Any) -> Settings:
    """The settings in force (read once). A bad value raises a ``UserError`` that names the setting, where it
    came from and what it may be."""
    from pydantic import ValidationError

    try:
        return _load_settings(**overrides)
    except ValidationError as e:
        from agent.errors import UserError

        problems = []
        for err in e.errors():
            name = ".".join(str(x) for x in err["loc"]) or "settings"
            env = f"{APP.upper()}_{name.upper()}"
            where = f"the environment variable {env}" if env in os.environ else f"{config_path()}"
            value = err.get("input")
            shown = f" = {value!r}" if not isinstance(value, dict) else ""
            problems.append(f"{name}{shown} (from {where}): {err['msg']}")
        raise UserError("bad setting: " + "; ".join(problems) + ". Fix it there, or remove it to use the "
                        "default") from None


@functools.lru_cache(maxsize=1)
def _load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    _load_settings.cache_clear()
