"""The documentation a user can hold: every link in the README, docs/ and CONTRIBUTING.md
points at a file of this repository (nothing outside it, which no clone has)."""

from __future__ import annotations

import re

from tests.conftest import REPOSITORY

PAGES = [
    REPOSITORY / "README.md",
    REPOSITORY / "CONTRIBUTING.md",
    *(REPOSITORY / "docs").glob("*.md"),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_link_points_inside_the_repository() -> None:
    checked = 0
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            assert "://" not in target and not target.startswith("/"), (page.name, target)
            resolved = (page.parent / path).resolve()
            assert resolved.is_relative_to(REPOSITORY) and resolved.exists(), (page.name, target)
            checked += 1
    assert checked > 20


def test_the_readme_is_a_users_page() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 150
    for heading in ("## The two commands", "## Run it on your project", "## Where the rest is"):
        assert heading in readme
    assert "SPEC.md" not in readme and "DESIGN.md" not in readme
