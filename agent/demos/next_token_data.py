"""Next-token data: shift by one, loss = mean NLL."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Next-token data: shift by one, loss = mean NLL'
CONCEPTS = ['next-token-cross-entropy', 'every-position', 'chain-rule-likelihood']
QUESTIONS = ['clm-loss', 'clm-loss-code', 'why-cross-entropy']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("next_token_data is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("next_token_data is being written")
