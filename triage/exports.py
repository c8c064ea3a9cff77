"""A package's names loaded on first use (PEP 562): `triage.models` and `triage.store` gather
many modules, and a command should pay at start-up only for the ones it uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy(package: str, names: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """The package's `__getattr__`: each module's `names` from `package.<module>`, a name kept
    once read."""
    namespace = importlib.import_module(package).__dict__
    module_of = {name: module for module, listed in names.items() for name in listed}

    def attribute(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return attribute
