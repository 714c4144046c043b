"""Scaled dot-product attention by hand equals F.scaled_dot_product_attention."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Scaled dot-product attention by hand equals F.scaled_dot_product_attention'
CONCEPTS = ['scaled-dot-product-attention', 'multi-head-shapes']
QUESTIONS = ['clm-no-bidirectional']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("attention is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("attention is being written")
