"""pyproject.toml: exact pins when it is named with --lockfile (never discovered, as it is
not a lockfile), and the names it depends on directly, to tell direct from transitive."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from triage.core.matching import normalize_name
from triage.lockfiles.pinning import fail, pinned_version, table, unpinned_reason
from triage.models import LockfileContents, Package, Unpinned


def read_pyproject(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    """Exact `==` pins in PEP 621 dependencies and extras and PEP 735 dependency groups; every
    range is reported as unpinned. Not a lockfile, so discovery never picks it up."""
    project = table(document.get("project"), origin, "project")
    sections: list[tuple[str, Any]] = [("project.dependencies", project.get("dependencies", []))]
    extras = table(project.get("optional-dependencies"), origin, "project.optional-dependencies")
    sections += [(f"project.optional-dependencies.{k}", v) for k, v in extras.items()]
    groups = table(document.get("dependency-groups"), origin, "dependency-groups")
    sections += [(f"dependency-groups.{k}", v) for k, v in groups.items()]
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for section, specs in sections:
        if not isinstance(specs, list):
            raise fail(origin, section, "expected an array of requirement strings")
        for index, spec in enumerate(specs):
            where = f"{section}[{index}]"
            if not isinstance(spec, str):
                continue  # {include-group = "..."}: its entries are read in their own group
            try:
                req = Requirement(spec)
            except InvalidRequirement as exc:
                raise fail(origin, where, f"not a PEP 508 requirement: {exc}") from exc
            name = normalize_name(req.name)
            version = None if req.url else pinned_version(req.specifier)
            if version is None:
                admitted = None if req.url else str(req.specifier)
                unpinned.append(
                    Unpinned(name, shown, where, unpinned_reason(req.specifier), admitted)
                )
                continue
            packages.append(
                Package(
                    name=name,
                    version=version,
                    lockfile=shown,
                    location=where,
                    display_name=req.name,
                    markers=str(req.marker) if req.marker else None,
                    extras=tuple(sorted(req.extras)),
                    direct=True,
                )
            )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


def direct_names(pyproject_text: str) -> set[str]:
    """Names a pyproject.toml depends on directly: PEP 621 dependencies and extras, PEP 735
    dependency groups, Poetry's dependency tables. It only tells direct dependencies from
    transitive ones, so unreadable text, or values of other types, name nothing."""
    try:
        return _direct_names(tomllib.loads(pyproject_text))
    except (tomllib.TOMLDecodeError, RecursionError, ValueError, AttributeError, TypeError):
        return set()


def _direct_names(document: Mapping[str, Any]) -> set[str]:
    specs: list[Any] = []
    project = document.get("project", {})
    specs += project.get("dependencies", [])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    for group in document.get("dependency-groups", {}).values():
        specs += group
    names: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            try:
                names.add(normalize_name(Requirement(spec).name))
            except InvalidRequirement:
                continue
    poetry = document.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables += [g.get("dependencies", {}) for g in poetry.get("group", {}).values()]
    for found in tables:
        names.update(normalize_name(n) for n in found if n.lower() != "python")
    return names
