"""Mixture of denoisers (UL2): R, S and X corruption."""

from __future__ import annotations

from agent.demos._base import Check, DemoResult

TITLE = 'Mixture of denoisers (UL2): R, S and X corruption'
CONCEPTS = ['r-denoiser', 's-denoiser', 'x-denoiser']
QUESTIONS = ['mixture-of-denoisers']


def run(device: str = "cpu") -> DemoResult:
    raise NotImplementedError("mixture_of_denoisers is being written")


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    raise NotImplementedError("mixture_of_denoisers is being written")
