"""MoE load balancing: the auxiliary loss prevents router collapse."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'MoE load balancing: the auxiliary loss prevents router collapse'
CONCEPTS = ['load-balancing-loss', 'router-collapse']
QUESTIONS = ['moe-aux-loss']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("moe_load_balancing is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("moe_load_balancing is being written")
