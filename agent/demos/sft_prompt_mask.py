"""SFT prompt masking: only response tokens carry loss."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'SFT prompt masking: only response tokens carry loss'
CONCEPTS = ['prompt-masking', 'response-only-loss']
QUESTIONS = ['sft-prompt-mask']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("sft_prompt_mask is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("sft_prompt_mask is being written")
