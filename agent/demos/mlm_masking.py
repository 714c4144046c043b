"""MLM masking: 15% selected, 80/10/10 mask/random/keep."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'MLM masking: 15% selected, 80/10/10 mask/random/keep'
CONCEPTS = ['mlm-15-percent', '80-10-10']
QUESTIONS = ['mlm', 'bert-masking']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("mlm_masking is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("mlm_masking is being written")
