"""What the package index says of a locked release beyond advisories (its own module: a diff
builds these without loading every other outcome's model)."""

from __future__ import annotations

from msgspec import Struct

from triage.models.codes import Level


class IndexNote(Struct, frozen=True):
    """What the package index says of a locked release beyond advisories: a yanked file
    (PEP 592) or the project's status (PEP 792: archived, quarantined, deprecated)."""

    package: str
    version: str
    kind: str  # "yanked", or the project's status
    detail: str  # the yanked file's name, or the status's reason
    reason: str | None
    level: Level
