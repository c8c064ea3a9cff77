"""The project's GitHub workflows and its Action (issue 13): every `uses:` is pinned to a full
commit SHA with the version it stands for, never a tag or branch someone can move; the
release workflow does what a release must."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPOSITORY

FILES = sorted([REPOSITORY / "action.yml", *(REPOSITORY / ".github" / "workflows").glob("*.yml")])
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<target>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s*v\d+(\.\d+)*\s*$")


def uses_lines() -> list[tuple[str, int, str, str]]:
    found = []
    for path in FILES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            if match := USES.match(line):
                found.append((path.name, number, match["target"], match["rest"]))
    return found


def test_there_are_workflows_to_check() -> None:
    names = {path.name for path in FILES}
    assert {"action.yml", "release.yml", "triage-pr.yml", "triage-audit.yml"} <= names
    assert len(uses_lines()) >= 10


@pytest.mark.parametrize(
    ("where", "number", "target", "rest"), uses_lines(), ids=lambda v: str(v)[:40]
)
def test_every_uses_is_a_full_commit_sha_with_its_version(
    where: str, number: int, target: str, rest: str
) -> None:
    if target.startswith("./"):
        return  # this repository's own Action, at the commit being run
    assert PINNED.match(target), f"{where}:{number}: {target} is not pinned to a commit SHA"
    assert VERSION_COMMENT.match(rest), f"{where}:{number}: no `# vX.Y.Z` comment"


@pytest.mark.parametrize(
    "target", ["actions/checkout@v4", "actions/cache@main", "o/r@1234567", "o/r@v1.2.3"]
)
def test_a_mutable_reference_is_refused(target: str) -> None:
    assert not PINNED.match(target)


def test_the_release_gates_on_trust_and_publishes_without_a_token() -> None:
    release = (REPOSITORY / ".github" / "workflows" / "release.yml").read_text()
    policy = (REPOSITORY / ".github" / "release-policy.toml").read_text()
    assert 'mode = "certified"' in policy and 'unsigned = "deny"' in policy
    steps = [
        "triage trust check . --config .github/release-policy.toml --trust-store trust-store",
        "triage sbom . --format cyclonedx",
        "triage scan . --witness",
        "triage witness verify",
        "sha256sum dist/* release/*",
        "actions/attest-build-provenance@",
        "actions/attest@",
        "predicate-type: urn:triage:witness:v1",
        "pypa/gh-action-pypi-publish@",
    ]
    positions = [release.index(step) for step in steps]
    assert positions == sorted(positions)  # the gate comes before anything is published
    assert "id-token: write" in release and "password" not in release
    assert "PYPI_API_TOKEN" not in release and "secrets." not in release
