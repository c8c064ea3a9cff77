"""The rules every reader shares: how a package entry names itself, what counts as pinned,
how an artifact and its digest are read, and how a failure names the file and place."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from triage.errors import LockfileError
from triage.models import Artifact


def fail(origin: str, where: str, message: str) -> LockfileError:
    return LockfileError(
        f"{origin}: {where}: {message}",
        hint="regenerate the lockfile with its tool, or pass the right file with --lockfile",
    )


def name_of(entry: Mapping[str, Any], origin: str, where: str) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise fail(origin, where, "a package entry needs a 'name'")
    return name


def table_list(document: Mapping[str, Any], key: str, origin: str) -> list[Mapping[str, Any]]:
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise fail(origin, key, "expected an array of tables")
    return entries


def known_major(value: Any, origin: str, key: str, newest: int) -> None:
    """A lock format's version: a major version newer than the reader knows is refused, as
    its entries may mean something else."""
    text = str(value)
    major = text.split(".", 1)[0]
    if not major.isdigit():
        raise fail(origin, key, f"{value!r} is not a lock format version")
    if int(major) > newest:
        raise fail(
            origin,
            key,
            f"format version {text} is newer than this triage reads (up to {newest}.x)",
        )


def table(value: Any, origin: str, where: str) -> Mapping[str, Any]:
    """A table where the format has one (an absent one is empty); anything else is an error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(origin, where, f"expected a table, found {type(value).__name__}")
    return value


def array(value: Any, origin: str, where: str) -> list[Any]:
    """An array where the format has one (an absent one is empty); anything else is an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(origin, where, f"expected an array, found {type(value).__name__}")
    return value


def artifact_from_url(url: Any, digest: str | None, filename: Any = None) -> Artifact | None:
    name = filename if isinstance(filename, str) else None
    if name is None and isinstance(url, str):
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1]) or None
    return Artifact(name, digest) if name else None


def sha256(value: Any) -> str | None:
    """Hashes are written 'sha256:<hex>' (uv, poetry) or as a table {sha256 = ...} (pylock)."""
    if isinstance(value, Mapping):
        digest = value.get("sha256")
        return digest if isinstance(digest, str) else None
    if isinstance(value, str) and value.startswith("sha256:"):
        return value.removeprefix("sha256:")
    return None


def reverse_graph(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, child in edges:
        parents[child].add(parent)
    return parents


def pinned_version(specifier: SpecifierSet) -> str | None:
    """The one version `==X`, `===X` or `>=X,<=X` admits; None for ranges, wildcards or
    nothing."""
    specs = list(specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    if len(specs) == 2 and {s.operator for s in specs} == {">=", "<="}:
        first, second = (s.version for s in specs)
        if Version(first) == Version(second):
            return first
    return None


def unpinned_reason(specifier: SpecifierSet) -> str:
    return f"not pinned to one version ({specifier or 'no version given'})"
