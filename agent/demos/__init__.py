"""Verified PyTorch demos, one module per demo. torch is imported inside functions only.

``demo_names()`` lists the modules without importing them (the bank lint uses it).
"""

from __future__ import annotations

import pkgutil


def demo_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
