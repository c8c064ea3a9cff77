"""deny.toml: `parse` reads and validates it; `edit` changes it in place."""

from triage.config.parse import load_config, parse_config
from triage.config.values import parse_duration

__all__ = ["load_config", "parse_config", "parse_duration"]
