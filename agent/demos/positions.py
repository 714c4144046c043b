"""Positions: attention is permutation-equivariant without them; RoPE encodes offsets."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Positions: attention is permutation-equivariant without them; RoPE encodes offsets'
CONCEPTS = ['permutation-equivariance', 'sinusoidal-positions', 'rope-relative']
QUESTIONS = ['clm-no-bidirectional']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("positions is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("positions is being written")
