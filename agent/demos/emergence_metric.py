"""Emergence as a metric artefact: smooth per-token accuracy, sharp exact match."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Emergence as a metric artefact: smooth per-token accuracy, sharp exact match'
CONCEPTS = ['exact-match-artefact']
QUESTIONS = []


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("emergence_metric is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("emergence_metric is being written")
