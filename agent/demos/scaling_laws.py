"""Scaling laws: fit L(N) = a N^-alpha + c; compute-optimal split C = 6ND."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Scaling laws: fit L(N) = a N^-alpha + c; compute-optimal split C = 6ND'
CONCEPTS = ['power-law-fit', 'chinchilla-20-tokens']
QUESTIONS = []


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("scaling_laws is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("scaling_laws is being written")
