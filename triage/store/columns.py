"""The JSON columns of the advisory tables, decoded to their types in C: a large scan reads
thousands of them (2,473 rows for 600 vulnerable pins), and a value of the wrong type is a
ValueError, never a record believed half-way."""

from __future__ import annotations

import json

import msgspec

from triage.models import Affected, Event, VersionRange

_RANGES = msgspec.json.Decoder(tuple[tuple[Event, ...], ...])
_STRINGS = msgspec.json.Decoder(tuple[str, ...])


def ranges_to_json(affected: Affected) -> str:
    """As every stored row has it: each range a list of [kind, version] events."""
    return json.dumps([[[e.kind, e.version] for e in r.events] for r in affected.ranges])


def ranges_from_json(text: str) -> tuple[VersionRange, ...]:
    return tuple(VersionRange(events) for events in _RANGES.decode(text))


def strings_from_json(text: str) -> tuple[str, ...]:
    """A list of strings: listed versions, aliases, references, a group's ids."""
    return _STRINGS.decode(text)
