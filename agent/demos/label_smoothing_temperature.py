"""Label smoothing and temperature: target and output distributions."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Label smoothing and temperature: target and output distributions'
CONCEPTS = ['label-smoothing', 'temperature']
QUESTIONS = ['why-cross-entropy']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("label_smoothing_temperature is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("label_smoothing_temperature is being written")
