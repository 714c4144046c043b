"""Padding: ignore_index=-100 equals a mask-weighted mean."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Padding: ignore_index=-100 equals a mask-weighted mean'
CONCEPTS = ['padding-mask', 'ignore-index']
QUESTIONS = ['clm-padding']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("padding_mask is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("padding_mask is being written")
