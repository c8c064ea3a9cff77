"""The artifacts a lockfile pins, by file name and digest: what trust judges, and what a diff
compares to know whether a pull request adds any (kept apart from the trust rules, which a diff
that adds none never loads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from triage.models import Package


def locked_artifacts(
    packages: Sequence[Package], by_digest: Mapping[str, str]
) -> list[tuple[Package, str, str]]:
    """(package, file name, sha256) for every locked artifact with a digest, once each;
    hash-only pins take their file name from provenance with that digest, when there is."""
    found: list[tuple[Package, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for package in packages:
        artifacts = [(a.filename, a.sha256) for a in package.artifacts if a.sha256]
        for digest in package.hashes:
            if digest.startswith("sha256:"):
                sha = digest.removeprefix("sha256:")
                name = by_digest.get(sha, f"{package.name}-{package.version} (sha256:{sha[:12]})")
                artifacts.append((name, sha))
        for filename, sha256 in artifacts:
            if (filename, sha256) not in seen:
                seen.add((filename, sha256))
                found.append((package, filename, sha256))
    return found
