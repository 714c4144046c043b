"""The endpoint's settings and one judging's requests: response-format fallback, retries, failures in words.

The openai client carries the request options (``timeout`` and ``max_retries``, set when it is made, or
with ``with_options`` on a client the caller gives). Its own retries are off (``max_retries=0``) because
they do not fit what the judge promises: they retry timeouts and refused connections too (an unreachable
judge would hold the grade back for several timeouts), wait out a Retry-After of up to two minutes with no
budget across attempts (viva waits ``max_retry_wait_s`` in all), and keep no record of the attempts (each
request's status, wait and tokens are kept in :attr:`JudgeResult.calls`). So :class:`_Attempt` retries a
429 or a 5xx itself, and re-asks after a rejected ``response_format`` or ``temperature`` or an unusable
reply.

``openai`` is imported only inside the functions that call the endpoint (``pip install 'viva[judge]'``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import MissingExtra
from agent.grading.judge.checks import _Invalid, _Refused, check_output, parse_reply
from agent.grading.judge.schema import (
    FIX_PROMPT,
    MODES,
    FailureKind,
    JudgeCall,
    JudgeOutput,
    JudgeResult,
    Mode,
    output_schema,
)

if TYPE_CHECKING:
    from agent.config import Settings
    from agent.grading.judge.core import Judge
    from agent.models import Question, Rubric

log = logging.getLogger(__name__)


def _require_openai() -> None:
    if importlib.util.find_spec("openai") is None:
        raise MissingExtra("judge", "openai", "The LLM judge")


def request_options(config: JudgeConfig) -> dict[str, Any]:
    """The client options every judge request runs under: the judge's timeout, and none of the client's own
    retries (the judge's are in :meth:`_Attempt.on_error`)."""
    return {"timeout": config.timeout_s, "max_retries": 0}


def open_client(config: JudgeConfig) -> Any:
    """A blocking openai client for the endpoint."""
    import openai

    return openai.OpenAI(**_client_kwargs(config))


def open_async_client(config: JudgeConfig) -> Any:
    """An asyncio openai client for the endpoint (the caller closes it)."""
    import openai

    return openai.AsyncOpenAI(**_client_kwargs(config))


def _client_kwargs(config: JudgeConfig) -> dict[str, Any]:
    kw: dict[str, Any] = {"api_key": config.api_key, **request_options(config)}
    if config.base_url:
        kw["base_url"] = config.base_url
    return kw


@dataclass
class JudgeConfig:
    model: str
    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    concurrency: int = 4
    max_retries: int = 2
    max_retry_wait_s: float = 30.0
    backoff_s: float = 0.5
    use_cache: bool = True
    cache_dir: Path | None = None
    temperature: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> JudgeConfig:
        if settings is None:
            from agent.config import get_settings

            settings = get_settings()
        overrides = {k: v for k, v in overrides.items() if v is not None}
        cfg = cls(
            model=settings.judge_model,
            base_url=settings.judge_base_url or os.environ.get("OPENAI_BASE_URL") or None,
            api_key=settings.judge_api_key or os.environ.get("OPENAI_API_KEY") or None,
            timeout_s=settings.judge_timeout_s,
            concurrency=settings.judge_concurrency,
            cache_dir=Path(settings.cache_dir) / "judge",
        )
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown judge option {k!r}")
            setattr(cfg, k, v)
        if cfg.concurrency < 1:
            from agent.errors import UserError

            raise UserError(f"judge concurrency must be at least 1 (got {cfg.concurrency})")
        return cfg

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"


# which response_format each endpoint accepted, so a server without structured outputs is probed once
_MODE_MEMO: dict[tuple[str, str], Mode] = {}


@dataclass
class _Attempt:
    """The retry state of one judging: shared by the sync and async paths."""

    judge: Judge
    question: Question
    rubric: Rubric
    answer: str
    result: JudgeResult
    messages: list[dict[str, str]]
    mode: Mode = "json_schema"
    retries: int = 0
    waited: float = 0.0
    invalid: int = 0
    send_temperature: bool = True
    output: JudgeOutput | None = None

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.judge.config.model, "messages": self.messages}
        if self.send_temperature:
            kw["temperature"] = self.judge.config.temperature
        if self.mode == "json_schema":
            kw["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "viva_judgement", "strict": True, "schema": output_schema(self.rubric)}}
        elif self.mode == "json_object":
            kw["response_format"] = {"type": "json_object"}
        return kw

    def run(self, client: Any) -> None:
        """Ask the endpoint until this judging is finished (ok or failed), blocking."""
        while True:
            t0 = time.perf_counter()
            try:
                completion = client.chat.completions.create(**self.kwargs())
            except Exception as e:  # noqa: BLE001 - every failure becomes a result, never an exception
                wait = self.on_error(e, time.perf_counter() - t0)
                if wait is None:
                    return
                time.sleep(wait)
                continue
            if self.on_reply(completion, time.perf_counter() - t0):
                return

    async def run_async(self, client: Any) -> None:
        """:meth:`run` with an asyncio client, without blocking the event loop."""
        while True:
            t0 = time.perf_counter()
            try:
                completion = await client.chat.completions.create(**self.kwargs())
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                wait = self.on_error(e, time.perf_counter() - t0)
                if wait is None:
                    return
                await asyncio.sleep(wait)
                continue
            if self.on_reply(completion, time.perf_counter() - t0):
                return

    def on_reply(self, completion: Any, latency: float) -> bool:
        """Handle a completion; True when finished (ok or failed), False to ask again."""
        usage = getattr(completion, "usage", None)
        call = JudgeCall(attempt=len(self.result.calls) + 1, mode=self.mode, status="ok", latency_s=round(latency, 3),
                         prompt_tokens=getattr(usage, "prompt_tokens", None),
                         completion_tokens=getattr(usage, "completion_tokens", None),
                         total_tokens=getattr(usage, "total_tokens", None))
        self.result.calls.append(call)
        try:
            choice = completion.choices[0]
            msg = choice.message
            out = parse_reply(msg.content, getattr(msg, "refusal", None), choice.finish_reason)
        except _Refused as e:
            call.status = "refusal"
            return self._fail("refusal", f"the judge refused to grade ({e})")
        except (_Invalid, IndexError, AttributeError) as e:
            call.status = "invalid json"
            self.invalid += 1
            if self.invalid >= 2:
                return self._fail("invalid_json", f"the judge returned unusable JSON twice (last: {e})")
            content = ""
            try:
                content = completion.choices[0].message.content or ""
            except (IndexError, AttributeError):
                pass
            self.messages = [*self.messages, {"role": "assistant", "content": content[:4000]},
                             {"role": "user", "content": FIX_PROMPT.format(error=e)}]
            return False
        _MODE_MEMO[(self.judge.config.endpoint, self.judge.config.model)] = self.mode
        self.result.mode = self.mode
        self.output = out
        check_output(out, self.question, self.rubric, self.answer, self.result)
        return True

    def on_error(self, exc: BaseException, latency: float) -> float | None:
        """Handle a failed request; the seconds to wait before retrying, or None when finished."""
        import openai

        call = JudgeCall(attempt=len(self.result.calls) + 1, mode=self.mode, status="error", latency_s=round(latency, 3))
        self.result.calls.append(call)
        cfg = self.judge.config
        if isinstance(exc, openai.APITimeoutError):
            call.status = "timeout"
            self._fail("timeout", f"the judge at {cfg.endpoint} did not answer within {cfg.timeout_s:g} s")
            return None
        if isinstance(exc, openai.APIConnectionError):
            call.status = "connection error"
            self._fail("connection", f"could not reach the judge at {cfg.endpoint} ({_connect_detail(exc)})")
            return None
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            call.status = f"http {code}"
            if code in (400, 422) and self.send_temperature and "temperature" in _short(exc).lower():
                # some reasoning models accept only their default temperature
                log.info("%s rejected temperature=%s; asking without it", cfg.endpoint, cfg.temperature)
                self.send_temperature = False
                return 0.0
            if code in (400, 404, 415, 422) and self.mode != "text" and _mentions_format(exc):
                nxt = MODES[MODES.index(self.mode) + 1]
                log.info("%s rejected response_format=%s; trying %s", cfg.endpoint, self.mode, nxt)
                self.mode = nxt
                return 0.0
            if code == 429 or code >= 500:
                kind: FailureKind = "rate_limit" if code == 429 else "server_error"
                what = "rate-limited the request (429)" if code == 429 else f"failed with a server error ({code})"
                after = _retry_after(exc)
                if after is not None and self.waited + after > cfg.max_retry_wait_s:
                    self._fail(kind, f"the judge at {cfg.endpoint} {what} and asked to wait {after:g} s, "
                                     f"more than the {cfg.max_retry_wait_s:g} s viva waits in all")
                    return None
                if self.retries >= cfg.max_retries:
                    tries = self.retries + 1
                    self._fail(kind, f"the judge at {cfg.endpoint} {what}; gave up after {tries} "
                                     f"attempt{'s' if tries > 1 else ''}")
                    return None
                wait = after if after is not None else cfg.backoff_s * (2 ** self.retries)
                wait = min(wait, max(0.0, cfg.max_retry_wait_s - self.waited))
                self.retries += 1
                self.waited += wait
                call.waited_s = round(wait, 3)
                return wait
            if code in (401, 403):
                self._fail("auth", f"the judge at {cfg.endpoint} rejected the API key ({code}); "
                                     "set VIVA_JUDGE_API_KEY or OPENAI_API_KEY")
                return None
            self._fail("http_error", f"the judge at {cfg.endpoint} answered {code}: {_short(exc)}")
            return None
        call.status = type(exc).__name__
        self._fail("error", f"the judge call failed: {type(exc).__name__}: {exc}")
        return None

    def _fail(self, kind: FailureKind, reason: str) -> bool:
        self.result.ok = False
        self.result.failure_kind = kind
        self.result.failure = reason
        return True


def _connect_detail(exc: BaseException) -> str:
    """The root cause of a connection failure in words: 'connection refused', 'name not resolved' ..."""
    seen: set[int] = set()
    x: BaseException | None = exc
    last = exc
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        last = x
        if isinstance(x, ConnectionRefusedError) or "refused" in str(x).lower():
            return "connection refused"
        if "name or service not known" in str(x).lower() or "nodename nor servname" in str(x).lower():
            return "host name not resolved"
        x = x.__cause__ or x.__context__
    return str(last) or type(last).__name__


def _mentions_format(exc: Any) -> bool:
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
    return any(w in text for w in ("response_format", "json_schema", "json schema", "structured", "json_object",
                                   "response format"))


def _short(exc: Any) -> str:
    msg = str(getattr(exc, "message", "") or exc)
    return msg if len(msg) <= 160 else msg[:157] + "..."


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
