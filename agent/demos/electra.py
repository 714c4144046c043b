"""ELECTRA: replaced-token detection puts loss on every position."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'ELECTRA: replaced-token detection puts loss on every position'
CONCEPTS = ['replaced-token-detection', 'all-positions-loss']
QUESTIONS = ['electra', 'electra-efficiency']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("electra is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("electra is being written")
