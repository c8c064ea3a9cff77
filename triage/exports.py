"""A package's names loaded on first use (PEP 562): `triage.models` and `triage.store` gather
many modules, and a command should pay at start-up only for the ones it uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(package: str, module_of: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's `__getattr__`: `name` from `package.<module_of[name]>`, kept once read."""
    namespace = importlib.import_module(package).__dict__

    def attribute(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return attribute
