"""deny.toml: `loading` finds it, `parse` reads and validates it (loaded only when there is
a file to read), `edit` changes it in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.config.loading import load_config
from triage.exports import lazy

if TYPE_CHECKING:
    from triage.config.parse import parse_config
    from triage.config.values import parse_duration

__getattr__ = lazy(__name__, {"parse": ("parse_config",), "values": ("parse_duration",)})

__all__ = ["load_config", "parse_config", "parse_duration"]
