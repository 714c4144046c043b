"""Self-supervised labels: CLM, MLM and denoising targets from one sentence."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Self-supervised labels: CLM, MLM and denoising targets from one sentence'
CONCEPTS = ['clm-targets', 'mlm-targets', 'denoising-targets']
QUESTIONS = ['clm-loss', 'mlm', 'span-corruption']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("self_supervised_labels is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("self_supervised_labels is being written")
