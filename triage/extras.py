"""The optional parts of triage (pyproject's extras): what the gate never imports is not
installed with it. A command whose extra is missing stops before it starts, saying the exact
line that installs it."""

from __future__ import annotations

import importlib
import sys
from enum import StrEnum

from triage.errors import InputError


class Extra(StrEnum):
    ORG = "org"  # org audit --engine celery and its workers: Celery, the Redis client
    SBOM = "sbom"  # triage sbom: cyclonedx-python-lib, packageurl-python
    SCHEDULE = "schedule"  # triage schedule: APScheduler
    FIX = "fix"  # triage fix: uv, the resolver every plan is checked by


_MODULES = {
    Extra.ORG: ("celery", "redis"),
    Extra.SBOM: ("cyclonedx", "packageurl"),
    Extra.SCHEDULE: ("apscheduler",),
    Extra.FIX: ("uv",),
}


def require(extra: Extra, command: str) -> None:
    """Raises the install line when `extra` is not installed (exit 2)."""
    for module in _MODULES[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            python = sys.executable or "python3"
            raise InputError(
                f"`{command}` needs triage's {extra} extra, which is not installed "
                f"(no module {module!r})",
                hint=f"install it: {python} -m pip install --require-hashes "
                f"-r requirements-{extra}.txt (in triage's source folder; hash-pinned), "
                f"or {python} -m pip install 'triage[{extra}]'",
            ) from None
