"""Span corruption (T5): sentinels in the input, spans in the target."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Span corruption (T5): sentinels in the input, spans in the target'
CONCEPTS = ['sentinel-tokens', 'mean-span-length']
QUESTIONS = ['span-corruption', 'span-corruption-example']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("span_corruption is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("span_corruption is being written")
