"""The JSON Schemas of docs/schemas/, to validate real output with: every JSON document
triage writes names its schema, and `validate` checks it against that file."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.conftest import REPOSITORY
from triage.models import Schema

SCHEMAS = REPOSITORY / "docs" / "schemas"


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    loaded = {s: json.loads((SCHEMAS / s.file).read_text()) for s in Schema}
    registry = Registry().with_resources(
        (s.file, Resource.from_contents(document)) for s, document in loaded.items()
    )
    return {
        s.value: Draft202012Validator(document, registry=registry) for s, document in loaded.items()
    }


def validate(document: Any) -> None:
    """`document` against the schema it names (a document naming none fails)."""
    assert isinstance(document, dict) and document.get("schema") in _validators(), document
    _validators()[document["schema"]].validate(document)
