"""The LLM-judge options shared by `viva score`, `viva grade` and `viva eval`.

``judged_command(sub, name, func, ...)`` builds such a command's parser: the command adds its own arguments
inside the ``with`` block, then the judge options follow. ``add_judge_args(parser)`` adds
``--judge/--no-judge``, ``--no-cache``, ``--concurrency N``, ``--judge-model`` and ``--judge-base-url``.
``apply_judge(args, items, grades)`` refines offline grades with the judge and returns the new grades and
a :class:`agent.grading.judge.FailureSummary`; it prints nothing (the command prints ``summary.lines()``).
Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.grading.base import Scorer
    from agent.grading.judge import FailureSummary, Judge
    from agent.models import Grade, Question, Rubric


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def add_judge_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("LLM judge", "refine the offline grade with any OpenAI-compatible model "
                                  "(needs viva[judge]; key from VIVA_JUDGE_API_KEY or OPENAI_API_KEY)")
    g.add_argument("--judge", dest="judge", action="store_true", default=None,
                   help="ask the LLM judge too and blend its grade (default: the 'judge' setting)")
    g.add_argument("--no-judge", dest="judge", action="store_false", help="the offline grade only")
    g.add_argument("--no-cache", dest="judge_no_cache", action="store_true",
                   help="ask the judge again instead of reusing its cached verdicts")
    g.add_argument("--concurrency", dest="judge_concurrency", type=_positive, metavar="N", default=None,
                   help="at most N judge requests in flight (default: the 'judge_concurrency' setting)")
    g.add_argument("--judge-model", metavar="NAME", default=None, help="model name sent to the endpoint")
    g.add_argument("--judge-base-url", metavar="URL", default=None,
                   help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1 for vLLM")


@contextmanager
def judged_command(sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], *,
                   help: str, description: str) -> Iterator[argparse.ArgumentParser]:
    """The parser of a grading command (``viva score``, ``grade``, ``eval``): yields it for the command's own
    arguments, then adds the judge options after them and sets ``func`` as the command to run."""
    p = sub.add_parser(name, help=help, description=description)
    yield p
    setting, default = ("regression_grader", "embedding") if name == "grade" else ("grader", "stacked")
    p.add_argument("--grader", action="append", metavar="NAME", default=None,
                   help="the scorer to grade with, by registry name: 'stacked', 'embedding', 'entail' or "
                   f"'contrastive' (default: the '{setting}' setting, '{default}' unless changed)"
                   + ("; repeat it to compare scorers on the same file" if name == "eval" else ""))
    add_judge_args(p)
    p.set_defaults(func=func)


def grader_names(args: argparse.Namespace) -> list[str | None]:
    """The scorers named by ``--grader`` (None: the ``grader`` setting), unknown names refused up front."""
    names = list(dict.fromkeys(getattr(args, "grader", None) or [])) or [None]
    if any(n is not None for n in names):
        from agent.errors import UserError
        from agent.grading import scorer_names

        known = scorer_names()
        for n in names:
            if n is not None and n not in known:
                raise UserError(f"unknown grader {n!r}; known: {', '.join(known)}")
    return names


def judge_enabled(args: argparse.Namespace) -> bool:
    flag = getattr(args, "judge", None)
    if flag is not None:
        return bool(flag)
    from agent.config import get_settings

    return bool(get_settings().judge)


def make_judge(args: argparse.Namespace) -> Judge:
    """A Judge from settings and the command-line overrides (MissingExtra when openai is absent)."""
    from agent.grading.judge import Judge, JudgeConfig

    cfg = JudgeConfig.from_settings(
        model=getattr(args, "judge_model", None),
        base_url=getattr(args, "judge_base_url", None),
        concurrency=getattr(args, "judge_concurrency", None),
        use_cache=not getattr(args, "judge_no_cache", False),
    )
    return Judge(cfg)


def judge_scorer(args: argparse.Namespace, base: Scorer | None = None) -> Scorer | None:
    """The judging scorer (offline grade + judge, blended) when the judge is on, else None."""
    if not judge_enabled(args):
        return None
    from agent.grading.judge import JudgeScorer

    return JudgeScorer(judge=make_judge(args), base=base)


def apply_judge(args: argparse.Namespace, items: list[tuple[Question, Rubric, str]],
                grades: list[Grade]) -> tuple[list[Grade], FailureSummary | None]:
    """Blend the judge into ``grades`` (one per item). Without the judge: the grades unchanged and None.

    Failed items keep their offline grade (with one note); the summary counts them by reason.
    """
    if not judge_enabled(args):
        return grades, None
    if len(items) != len(grades):
        raise ValueError(f"{len(items)} items but {len(grades)} grades")
    from agent.grading.blend import blend
    from agent.grading.judge import FailureSummary

    judge = make_judge(args)
    results = judge.judge_many_sync(items, judge.config.concurrency)
    out = [blend(g, r, item[1]) for g, r, item in zip(grades, results, items, strict=True)]
    return out, FailureSummary.of(results)


def summarize(grades: list[Grade]) -> FailureSummary | None:
    """The failure summary from grades a judging scorer made (None when none was judged)."""
    from agent.grading.judge import FailureSummary, JudgeResult

    results = [JudgeResult.model_validate(g.extra["judge"]) for g in grades if "judge" in g.extra]
    return FailureSummary.of(results) if results else None


def summary_json(summary: FailureSummary | None) -> dict[str, Any] | None:
    return summary.as_dict() if summary is not None else None
