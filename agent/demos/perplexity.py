"""Perplexity is exp(mean cross-entropy); bits per character compare tokenizers."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Perplexity is exp(mean cross-entropy); bits per character compare tokenizers'
CONCEPTS = ['perplexity-definition', 'uniform-perplexity', 'bits-per-character']
QUESTIONS = ['perplexity', 'perplexity-tokenizers']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("perplexity is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("perplexity is being written")
