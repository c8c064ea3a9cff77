"""An organisation on the loopback GitHub built from the real lockfiles in
../shared/data/lockfiles, with variations: lockfiles at the root and in subfolders, a policy of
the repository's own in some, forks and archived repositories, one with no lockfile."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LOCKFILES
from tests.github_git import Repo
from tests.github_server import GitHubServer

ORG = "acme"
# Records of these packages only: every repository has a few findings, not hundreds.
PACKAGES = ["urllib3", "idna", "jinja2"]


def _tree_name(source: Path) -> str:
    name = source.name
    for convention in ("uv.lock", "poetry.lock", "Pipfile.lock"):
        if name.endswith(convention):
            return convention
    if name.endswith(".toml") and "pylock" in name:
        return "pylock.toml"
    return "requirements.txt"


def real_lockfiles() -> list[tuple[str, bytes]]:
    """(tree path, bytes) of each real lockfile; the django folder keeps its -r include."""
    found: list[tuple[str, bytes]] = []
    for source in sorted(LOCKFILES.iterdir()):
        if source.name in ("SOURCES.md",) or source.name.endswith("pyproject.toml"):
            continue
        if source.is_dir():
            found.append(("requirements/prod.txt", (source / "prod.txt").read_bytes()))
            continue
        found.append((_tree_name(source), source.read_bytes()))
    return found


def policy(sources: Path, extra: str = "") -> bytes:
    return (
        f'[advisories]\nsources = ["{sources}"]\nstale-db = "allow"\n{extra}\n'
        '[github]\nlabels = ["security", "dependencies"]\n'
    ).encode()


def build(server: GitHubServer, sources: Path, count: int = 200) -> list[Repo]:
    """`count` repositories of ORG; the last six are a fork, archived ones and one with no
    lockfile."""
    locks = real_lockfiles()
    django = (LOCKFILES / "django__djangoproject.com__requirements" / "common.txt").read_bytes()
    repos = []
    for i in range(count):
        path, data = locks[i % len(locks)]
        repo = Repo(f"{ORG}/service-{i:03d}")
        folder = "backend/" if i % 5 == 1 else ""
        repo.files[f"{folder}{path}"] = data
        if path == "requirements/prod.txt":
            repo.files[f"{folder}requirements/common.txt"] = django
        repo.files["README.md"] = f"service {i}\n".encode()
        if i % 3 == 0:
            repo.files["deny.toml"] = policy(sources)
        if i % 7 == 3:
            repo.files["deny.toml"] = policy(sources, 'severity-threshold = "high"')
        if i >= count - 6:
            repo.fork = i == count - 6
            repo.archived = i in (count - 5, count - 4)
        if i == count - 1:
            repo.files = {"README.md": b"documentation only\n"}
        repos.append(server.git.add_repo(repo))
    return repos
