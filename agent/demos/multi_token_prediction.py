"""Multi-token prediction: k heads for t+1 ... t+k."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Multi-token prediction: k heads for t+1 ... t+k'
CONCEPTS = ['mtp-heads']
QUESTIONS = ['multi-token-prediction']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("multi_token_prediction is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("multi_token_prediction is being written")
