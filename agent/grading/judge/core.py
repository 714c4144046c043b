"""The judge bound to one endpoint and model: cache, then the endpoint, sync, async and in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent.grading.judge.cache import JudgeCache
from agent.grading.judge.checks import check_output, detect_injection
from agent.grading.judge.schema import (
    PROMPT_VERSION,
    JudgeOutput,
    JudgeResult,
    _sha,
    build_messages,
    rubric_digest,
)
from agent.grading.judge.transport import (
    _MODE_MEMO,
    JudgeConfig,
    _Attempt,
    _require_openai,
    open_async_client,
    open_client,
    request_options,
)

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

log = logging.getLogger(__name__)


class Judge:
    """An LLM judge bound to one endpoint and model. Thread-safe for the sync API; the async API makes one
    client per event loop call (``judge_async``) or per batch (``judge_many``)."""

    def __init__(self, config: JudgeConfig | None = None, **overrides: Any):
        _require_openai()
        self.config = config or JudgeConfig.from_settings(**overrides)
        if config is not None and overrides:
            for k, v in overrides.items():
                if v is not None:
                    setattr(self.config, k, v)
        self.cache = JudgeCache(self.config.cache_dir) if self.config.cache_dir else None
        self._client: Any = None

    # -- bookkeeping shared by both paths

    def _cache_key(self, question: Question, rubric: Rubric, answer_sha: str) -> str:
        parts = [self.config.model, self.config.endpoint.rstrip("/"), PROMPT_VERSION, question.id,
                 str(rubric.version), rubric_digest(question, rubric), answer_sha]
        return _sha("\x1f".join(parts))

    def _start(self, question: Question, rubric: Rubric, answer: str) -> tuple[JudgeResult, _Attempt | None, str]:
        sha = _sha(answer)
        result = JudgeResult(ok=False, model=self.config.model, base_url=self.config.endpoint, question_id=question.id,
                             rubric_version=rubric.version, answer_sha256=sha, injection=detect_injection(answer))
        key = self._cache_key(question, rubric, sha)
        if not answer.strip():
            result.failure_kind, result.failure = "skipped", "the answer is empty, so the judge was not asked"
            return result, None, key
        if self.config.use_cache and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    out = JudgeOutput.model_validate(hit["output"])
                    result.cached = True
                    result.mode = hit.get("mode")
                    result.cached_tokens = int(hit.get("tokens", 0))
                    check_output(out, question, rubric, answer, result)
                    return result, None, key
                except (KeyError, ValueError, ValidationError) as e:
                    log.warning("ignoring a judge cache entry that no longer validates: %s", e)
        if not self.config.api_key:
            result.failure_kind = "no_key"
            result.failure = ("no API key for the judge: set VIVA_JUDGE_API_KEY or OPENAI_API_KEY (local servers "
                              "such as vLLM, Ollama or llama.cpp accept any value)")
            return result, None, key
        mode = _MODE_MEMO.get((self.config.endpoint, self.config.model), "json_schema")
        att = _Attempt(self, question, rubric, answer, result, build_messages(question, rubric, answer), mode=mode)
        return result, att, key

    def _finish(self, att: _Attempt, key: str) -> JudgeResult:
        res = att.result
        if res.ok and att.output is not None and self.cache is not None:
            self.cache.put(key, {"output": att.output.model_dump(mode="json"), "mode": res.mode,
                                 "model": self.config.model, "base_url": self.config.endpoint,
                                 "prompt_version": PROMPT_VERSION, "question_id": res.question_id,
                                 "rubric_version": res.rubric_version, "answer_sha256": res.answer_sha256,
                                 "tokens": res.total_tokens, "created": time.time()})
        if not res.ok:
            log.warning("LLM judge failed for %s: %s", res.question_id, res.failure)
        return res

    # -- sync

    def client(self) -> Any:
        if self._client is None:
            self._client = open_client(self.config)
        return self._client

    def judge(self, question: Question, rubric: Rubric, answer: str) -> JudgeResult:
        """Judge one answer (blocking). Never raises for endpoint trouble: see ``JudgeResult.failure``."""
        result, att, key = self._start(question, rubric, answer)
        if att is None:
            return result
        try:
            client = self.client()
        except Exception as e:  # noqa: BLE001 - the client refuses bad settings; the grade must survive
            att._fail("error", f"could not set up the judge client: {e}")
            return self._finish(att, key)
        att.run(client)
        return self._finish(att, key)

    # -- async

    def async_client(self) -> Any:
        return open_async_client(self.config)

    async def judge_async(self, question: Question, rubric: Rubric, answer: str, *, client: Any = None) -> JudgeResult:
        """Judge one answer without blocking the event loop. A ``client`` given is used with this judge's
        timeout and retry options; one made here is closed here."""
        result, att, key = self._start(question, rubric, answer)
        if att is None:
            return result
        own = client is None
        try:
            client = self.async_client() if own else client.with_options(**request_options(self.config))
        except Exception as e:  # noqa: BLE001
            att._fail("error", f"could not set up the judge client: {e}")
            return self._finish(att, key)
        try:
            await att.run_async(client)
        finally:
            if own:
                await client.close()
        return self._finish(att, key)

    async def judge_many(self, items: Iterable[tuple[Question, Rubric, str]],
                         concurrency: int | None = None) -> list[JudgeResult]:
        """Judge many answers with at most ``concurrency`` requests in flight. One result per item, in order;
        an item that fails (even with an unexpected error) gets a failed result and the others go on."""
        items = list(items)
        limit = max(1, concurrency or self.config.concurrency)
        sem = asyncio.Semaphore(limit)
        client = self.async_client() if self.config.api_key and items else None

        async def one(q: Question, r: Rubric, a: str) -> JudgeResult:
            async with sem:
                try:
                    return await self.judge_async(q, r, a, client=client)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - one bad item must not sink the batch
                    log.exception("judge failed unexpectedly for %s", q.id)
                    return JudgeResult(ok=False, model=self.config.model, base_url=self.config.endpoint,
                                       question_id=q.id, rubric_version=r.version, answer_sha256=_sha(a),
                                       failure_kind="error", failure=f"unexpected error: {type(e).__name__}: {e}")

        try:
            return list(await asyncio.gather(*(one(q, r, a) for q, r, a in items)))
        finally:
            if client is not None:
                await client.close()

    def refine(self, grade: Grade, question: Question, rubric: Rubric, answer: str) -> Grade:
        """``grade`` (from the offline grader) blended with this judge's verdict (blocking)."""
        from agent.grading.blend import blend

        return blend(grade, self.judge(question, rubric, answer), rubric)

    async def refine_async(self, grade: Grade, question: Question, rubric: Rubric, answer: str) -> Grade:
        """:meth:`refine` without blocking the event loop: show ``grade`` at once, then this result."""
        from agent.grading.blend import blend

        return blend(grade, await self.judge_async(question, rubric, answer), rubric)

    def judge_many_sync(self, items: Iterable[tuple[Question, Rubric, str]],
                        concurrency: int | None = None) -> list[JudgeResult]:
        """:meth:`judge_many` from synchronous code (the CLI). Not for use inside a running event loop."""
        return asyncio.run(self.judge_many(items, concurrency))


# --------------------------------------------------------------------------- module-level API


def judge(question: Question, rubric: Rubric, answer: str, **options: Any) -> JudgeResult:
    """Judge one answer with the configured endpoint (options override settings: model, base_url ...)."""
    return Judge(**options).judge(question, rubric, answer)


async def judge_async(question: Question, rubric: Rubric, answer: str, **options: Any) -> JudgeResult:
    return await Judge(**options).judge_async(question, rubric, answer)


async def judge_many(items: Iterable[tuple[Question, Rubric, str]], concurrency: int | None = None,
                     **options: Any) -> list[JudgeResult]:
    return await Judge(**options).judge_many(items, concurrency)


@dataclass
class FailureSummary:
    """What went wrong across a batch: counts by kind and one example reason per kind."""

    total: int = 0
    ok: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, str] = field(default_factory=dict)
    failed_ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, results: Sequence[JudgeResult], labels: Sequence[str] | None = None) -> FailureSummary:
        s = cls(total=len(results))
        for i, r in enumerate(results):
            s.tokens += r.total_tokens
            if r.ok:
                s.ok += 1
                s.cached += r.cached
                continue
            s.failed += 1
            kind = r.failure_kind or "error"
            s.kinds[kind] += 1
            s.reasons.setdefault(kind, r.failure or kind)
            s.failed_ids.append(labels[i] if labels else (r.question_id or str(i)))
        return s

    def lines(self) -> list[str]:
        head = (f"LLM judge: {self.ok} of {self.total} answers judged ({self.cached} from cache, "
                f"{self.tokens} tokens)")
        if not self.failed:
            return [head]
        out = [head + f"; {self.failed} kept the offline grade:"]
        for kind, n in self.kinds.most_common():
            out.append(f"  {n} x {kind}: {self.reasons[kind]}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "ok": self.ok, "cached": self.cached, "failed": self.failed,
                "tokens": self.tokens, "kinds": dict(self.kinds), "reasons": self.reasons,
                "failed_ids": self.failed_ids}
