"""The rules every reader shares: how a package entry names itself, what counts as pinned,
how an artifact and its digest are read, and how a failure names the file and place."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from triage.core.matching import normalize_name
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


def known_major(value: Any, origin: str, key: str, *, newest: int) -> None:
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


# What an installer takes a distribution file's project and version from: its name.
_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".txz", ".tar")


def same_version(named: str, declared: str) -> bool:
    from triage.core.matching import parse_version

    left, right = parse_version(named), parse_version(declared)
    if left is not None and right is not None:
        return left == right
    return named.lower() == declared.lower()


def file_project(filename: str) -> tuple[str, str] | None:
    """The (normalised name, version) a wheel or sdist file name states, as an installer reads
    it; None for a name that is neither (an .egg, an .exe: no installer of a lock takes them).
    A wheel or sdist name that states no project and version raises ValueError."""
    lowered = filename.lower()
    if lowered.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6) or not parts[0] or not parts[1]:
            raise ValueError(f"{filename!r} is not a wheel file name")
        return normalize_name(parts[0]), parts[1]
    suffix = next((s for s in _SDIST_SUFFIXES if lowered.endswith(s)), None)
    if suffix is None:
        return None
    stem = filename[: -len(suffix)]
    name, dash, version = stem.rpartition("-")
    if not dash or not name or not version:
        raise ValueError(f"{filename!r} names no version")
    return normalize_name(name), version


def _stated(filename: str, origin: str, where: str) -> tuple[str, str] | None:
    try:
        return file_project(filename)
    except ValueError as exc:
        raise fail(origin, where, f"{exc}: an installer would refuse it") from exc


def _sdist_states(filename: str, name: str, version: str) -> bool:
    """An sdist's name splits at its last dash, but a legacy version may hold a dash itself
    (`pkg-0.9-doduo.tar.gz`): it agrees when any split gives the declared project and
    version."""
    lowered = filename.lower()
    suffix = next(s for s in _SDIST_SUFFIXES if lowered.endswith(s))
    stem = filename[: -len(suffix)]
    return any(
        normalize_name(stem[:at]) == name and same_version(stem[at + 1 :], version)
        for at, char in enumerate(stem)
        if char == "-"
    )


def check_files(
    name: str, version: str, files: Iterable[tuple[str, str]], *, origin: str, where: str
) -> None:
    """Every wheel and sdist `files` lists ((place, file name)) must state the entry's own
    project and version: an installer installs what the file is, so an entry whose files name
    another would be audited as something it does not install (uv refuses such a lock)."""
    project = normalize_name(name)
    for place, filename in files:
        stated = _stated(filename, origin, place)
        if stated is None:
            continue
        agrees = stated[0] == project and same_version(stated[1], version)
        if not agrees and not filename.lower().endswith(".whl"):
            agrees = _sdist_states(filename, project, version)
        if not agrees:
            raise fail(
                origin,
                place,
                f"the file {filename!r} is {stated[0]} {stated[1]}, but {where} declares "
                f"{name} {version}: an installer would install the file, not what the entry says",
            )


def version_from_files(name: str, files: Iterable[tuple[str, str]], origin: str) -> str | None:
    """The one version every wheel and sdist of `name` states, when they agree; None when
    there are none or they disagree. A file naming another project is an error."""
    versions = set()
    for place, filename in files:
        stated = _stated(filename, origin, place)
        if stated is None:
            continue
        if stated[0] != normalize_name(name):
            raise fail(
                origin,
                place,
                f"the file {filename!r} is {stated[0]} {stated[1]}, not {name}: an installer "
                "would install the file, not what the entry says",
            )
        versions.add(stated[1])
    if len(versions) != 1:
        return None
    (version,) = versions
    return version
