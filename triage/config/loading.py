"""Finding deny.toml: an absent file is all defaults, and then neither the parser nor
tomllib is loaded (a scan of a folder without one pays nothing for them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.errors import ConfigError
from triage.models import Config

if TYPE_CHECKING:
    from pathlib import Path


def load_config(path: Path, *, required: bool) -> Config:
    """Read deny.toml; an absent file means all defaults, unless the user named it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(
                str(path),
                ["file not found (named with --config)"],
                hint="check the path, or leave --config out to use ./deny.toml (all defaults "
                "when there is none)",
            ) from None
        return Config(path=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc}"]) from exc
    from triage.config.parse import parse_config

    return parse_config(text, str(path))
