"""Causal mask: earlier outputs cannot see later tokens."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Causal mask: earlier outputs cannot see later tokens'
CONCEPTS = ['causal-mask', 'no-future-leakage']
QUESTIONS = ['clm-no-bidirectional']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("causal_mask is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("causal_mask is being written")
