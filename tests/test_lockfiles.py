"""Lockfile readers against every real file in ../shared/data/lockfiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import LOCKFILES
from triage.errors import LockfileError
from triage.lockfiles import discover, read_lockfile, requirements

# Entries per file as ../shared/data/lockfiles/SOURCES.md counts them: pinned packages plus
# the entries reported as unpinned (editable, local, URL, ranges).
SOURCES_COUNTS = {
    "pypi__warehouse__requirements__main.txt": 104,
    "django__djangoproject.com__requirements/common.txt": 20,
    "CTFd__CTFd__requirements.txt": 30,
    "openedx__ecommerce__requirements__production.txt": 131,
    "postmanlabs__httpbin__Pipfile.lock": 20,
    "psf__requests-html__Pipfile.lock": 81,
    "fastapi__full-stack-fastapi-template__cookiecutter-project__backend__app__Pipfile.lock": 109,
    "python-poetry__poetry__poetry.lock": 101,
    "lnbits__lnbits__poetry.lock": 92,
    "getredash__redash__poetry.lock": 237,
    "pydantic__pydantic-ai__uv.lock": 347,
    "invoke-ai__InvokeAI__uv.lock": 325,
    "fastapi__full-stack-fastapi-template__backend__uv.lock": 81,
    "pypa__packaging__tests__pylock__pylock.spec-example.toml": 3,
    "pypa__pipenv__pylock.toml": 103,
    "Comfy-Org__comfy-cli__pylock.toml": 48,
    # "68 deps (65 ==) + 64 dependency-group entries"; read only when named with --lockfile.
    "getredash__redash__pyproject.toml": 68 + 64,
}


@pytest.mark.parametrize("name", sorted(SOURCES_COUNTS))
def test_every_real_lockfile_reads_with_the_sources_md_count(name: str) -> None:
    contents = read_lockfile(LOCKFILES / name, LOCKFILES)
    own = [p for p in contents.packages if p.lockfile == name]
    own_unpinned = [u for u in contents.unpinned if u.lockfile == name]
    # The project's own workspace members (uv's editable/virtual entries) are listed apart.
    assert len(own) + len(own_unpinned) + len(contents.members) == SOURCES_COUNTS[name]


def test_requirements_include_resolves_and_keeps_each_files_name() -> None:
    contents = read_lockfile(
        LOCKFILES / "django__djangoproject.com__requirements/prod.txt", LOCKFILES
    )
    by_file: dict[str, int] = {}
    for package in contents.packages:
        by_file[package.lockfile] = by_file.get(package.lockfile, 0) + 1
    # "4 lines (-r common.txt + 3 pins)": the three pins, plus the twenty of the include.
    assert by_file == {
        "django__djangoproject.com__requirements/prod.txt": 3,
        "django__djangoproject.com__requirements/common.txt": 20,
    }


def test_hashed_requirements_read_without_loss() -> None:
    path = LOCKFILES / "pypi__warehouse__requirements__main.txt"
    text = path.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))
    contents = read_lockfile(path, LOCKFILES)
    assert {p.display_name: p.version for p in contents.packages} == pins
    assert sum(len(p.hashes) for p in contents.packages) == text.count("--hash=sha256:")
    jinja = next(p for p in contents.packages if p.name == "jinja2")
    assert jinja.display_name == "Jinja2" and jinja.version == "2.10"
    for package in contents.packages:
        for digest in package.hashes:
            assert digest.startswith("sha256:") and digest.removeprefix("sha256:") in text


def test_unpinned_editable_url_and_ranges_are_reported_with_reasons() -> None:
    ctfd = read_lockfile(LOCKFILES / "CTFd__CTFd__requirements.txt", LOCKFILES)
    assert [(u.name, u.reason) for u in ctfd.unpinned] == [
        ("requests", "not pinned to one version (>=2.20.0)")
    ]
    openedx = read_lockfile(
        LOCKFILES / "openedx__ecommerce__requirements__production.txt", LOCKFILES
    )
    assert [(u.name, u.location) for u in openedx.unpinned] == [("analytics-python", "line 7")]
    assert "editable" in openedx.unpinned[0].reason
    httpbin = read_lockfile(LOCKFILES / "postmanlabs__httpbin__Pipfile.lock", LOCKFILES)
    assert [(u.name, u.location) for u in httpbin.unpinned] == [("pyyaml", "default.pyyaml")]


def test_via_comments_extras_and_post_releases() -> None:
    contents = read_lockfile(
        LOCKFILES / "openedx__ecommerce__requirements__production.txt", LOCKFILES
    )
    by_name = {p.name: p for p in contents.packages}
    assert by_name["amqp"].via == ("kombu",) and by_name["amqp"].direct is False
    assert by_name["coreapi"].direct is True  # no "# via": named by the input file
    assert by_name["celery"].version == "3.1.26.post2"
    assert by_name["social-auth-core"].extras == ("openidconnect",)


def test_uv_graph_duplicates_and_local_versions() -> None:
    invoke = read_lockfile(LOCKFILES / "invoke-ai__InvokeAI__uv.lock", LOCKFILES)
    torch_versions = {p.version for p in invoke.packages if p.name == "torch"}
    assert {"2.7.1+cpu", "2.7.1+cu128"} <= torch_versions
    fastapi = read_lockfile(
        LOCKFILES / "fastapi__full-stack-fastapi-template__backend__uv.lock", LOCKFILES
    )
    by_name = {p.name: p for p in fastapi.packages}
    assert by_name["fastapi"].direct is True
    assert by_name["starlette"].direct is False and "fastapi" in by_name["starlette"].via
    assert all(a.sha256 for a in by_name["jinja2"].artifacts)


def test_pylock_artifacts_keep_names_and_digests() -> None:
    contents = read_lockfile(LOCKFILES / "Comfy-Org__comfy-cli__pylock.toml", LOCKFILES)
    artifacts = [a for p in contents.packages for a in p.artifacts]
    assert artifacts and all(a.filename.endswith((".whl", ".tar.gz")) for a in artifacts)
    assert all(a.sha256 and len(a.sha256) == 64 for a in artifacts)


def test_old_poetry_format_reads_metadata_files() -> None:
    contents = read_lockfile(LOCKFILES / "python-poetry__poetry__poetry.lock", LOCKFILES)
    requests_versions = sorted(p.version for p in contents.packages if p.name == "requests")
    assert requests_versions == ["2.21.0", "2.22.0"]
    assert all(p.artifacts for p in contents.packages if p.name == "requests")
    assert any(p.name == "aspy-yaml" for p in contents.packages)


def test_discovery_skips_fixtures_hidden_and_virtualenv_folders(tmp_path: Path) -> None:
    for relative in [
        "uv.lock",
        "requirements/prod.txt",
        "requirements-dev.txt",
        "backend/poetry.lock",
        "tests/fixtures/uv.lock",
        ".tox/requirements.txt",
        "venv/requirements.txt",
        "notes.txt",
        "pylock.web.toml",
    ]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("")
    secret = tmp_path.parent / f"{tmp_path.name}-netrc"
    secret.write_text("machine github.com password hunter2\n")
    (tmp_path / "requirements-same.txt").symlink_to(tmp_path / "requirements-dev.txt")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in discover(tmp_path))
    assert found == [
        "backend/poetry.lock",
        "pylock.web.toml",
        "requirements-dev.txt",
        "requirements-same.txt",  # a link that stays inside the root is fine
        "requirements/prod.txt",
        "uv.lock",
    ]
    # A link leading out of the root is refused, not passed over (SPEC §3).
    (tmp_path / "requirements-prod.txt").symlink_to(secret)
    with pytest.raises(LockfileError, match=r"requirements-prod\.txt: a symbolic link leading out"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("poetry.lock", '{"default": {}}', r"poetry\.lock: not valid TOML.*line 1"),
        (
            "uv.lock",
            'version = 1\n[[package]]\nname = "a"\nversion = "1',
            r"uv\.lock: not valid TOML",
        ),
        ("Pipfile.lock", "version = 1\n", r"Pipfile\.lock: line 1, column 1: not valid JSON"),
        ("pylock.toml", "[[packages]]\nname = 'a'\n", r"pylock\.toml: lock-version: missing"),
        (
            "uv.lock",
            "version = 1\n[[package]]\nversion = '1.0'\n",
            r"uv\.lock: package\[0\]: .*name",
        ),
        ("requirements.txt", "flask==1.0\n--frobnicate\n", r"requirements\.txt: line 2"),
        ("deps.cfg", "", r"deps\.cfg: not a lockfile name"),
    ],
)
def test_bad_lockfiles_name_the_file_and_place(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LockfileError, match=expected) as raised:
        read_lockfile(path, tmp_path)
    assert str(tmp_path) in str(raised.value) and "fix:" in str(raised.value)


def test_truncated_real_uv_lock_is_refused(tmp_path: Path) -> None:
    real = (LOCKFILES / "fastapi__full-stack-fastapi-template__backend__uv.lock").read_text()
    path = tmp_path / "uv.lock"
    path.write_text(real[: len(real) // 2])
    with pytest.raises(
        LockfileError, match=r"uv\.lock: not valid TOML.*(line \d+|end of document)"
    ):
        read_lockfile(path, tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "pypi__warehouse__requirements__main.txt",
        "openedx__ecommerce__requirements__production.txt",
        "django__djangoproject.com__requirements/common.txt",
    ],
)
def test_fast_path_reads_exactly_what_pips_parser_reads(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = read_lockfile(LOCKFILES / name, LOCKFILES)
    monkeypatch.setattr(requirements, "_plain_requirements", lambda path, lines: None)
    assert read_lockfile(LOCKFILES / name, LOCKFILES) == fast


def test_includes_never_leave_the_scanned_root(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("machine github.com password hunter2\n")
    repo = tmp_path / "repo"
    (repo / "reqs").mkdir(parents=True)
    (repo / "reqs" / "base.txt").write_text("-r ../../secret.txt\n")
    (repo / "requirements.txt").write_text("flask==1.0\n-r reqs/base.txt\n")
    with pytest.raises(
        LockfileError,
        match=r"base\.txt: line 1: -r \.\./\.\./secret\.txt points "
        r"outside",
    ) as raised:
        read_lockfile(repo / "requirements.txt", repo)
    assert "hunter2" not in str(raised.value)
    (repo / "reqs" / "base.txt").write_text("-r missing.txt\n")
    with pytest.raises(LockfileError, match=r"base\.txt: line 1: -r missing\.txt: no such file"):
        read_lockfile(repo / "requirements.txt", repo)
    # Includes that loop back are read once.
    (repo / "reqs" / "base.txt").write_text("-r ../requirements.txt\nclick==8.0\n")
    names = [p.name for p in read_lockfile(repo / "requirements.txt", repo).packages]
    assert names == ["flask", "click"]


def test_pyproject_pins_and_ranges() -> None:
    contents = read_lockfile(LOCKFILES / "getredash__redash__pyproject.toml", LOCKFILES)
    by_name = {p.name: p for p in contents.packages}
    assert by_name["flask"].version == "2.3.2" and by_name["jinja2"].version == "3.1.5"
    assert by_name["flask"].direct is True
    ranges = {u.name: u.reason for u in contents.unpinned if u.location.startswith("project.")}
    # SOURCES.md counts 65 "==" among the 68: one of them sits in ibm-db's marker, so the
    # file has 64 exact pins and four ranges.
    assert ranges == {
        "ibm-db": "not pinned to one version (<4.0.0,>=3.2.7)",
        "disposable-email-domains": "not pinned to one version (>=0.0.52)",
        "pytz": "not pinned to one version (>=2019.3)",
        "debugpy": "not pinned to one version (<2.0.0,>=1.8.9)",
    }


@pytest.mark.parametrize(
    "name",
    [
        "pypi__warehouse__requirements__main.txt",
        "openedx__ecommerce__requirements__production.txt",
        "django__djangoproject.com__requirements/common.txt",
    ],
)
def test_requirements_read_as_pip_audit_reads_them(name: str) -> None:
    """A differential check against an independent reader: pip-audit's own requirements source
    (pip disabled) on real, fully pinned files. It evaluates markers for this interpreter, so
    the comparison does too; what it cannot pin (editable or URL lines) it skips."""
    from packaging.markers import Marker
    from packaging.utils import canonicalize_name
    from pip_audit._dependency_source import RequirementSource

    path = LOCKFILES / name
    theirs = {
        (canonicalize_name(d.name), str(d.version))
        for d in RequirementSource([path], disable_pip=True, no_deps=True).collect()
        if hasattr(d, "version")
    }
    ours = {
        (p.name, p.version)
        for p in read_lockfile(path, LOCKFILES).packages
        if p.markers is None or Marker(p.markers).evaluate()
    }
    assert ours == theirs and len(ours) >= 20


def test_every_format_has_one_registry_entry_and_an_unknown_name_is_no_format() -> None:
    """The registry holds each format's names, discovery rule, reader and pin-line rule;
    a name no entry claims is an error where it is read, never another format's reader."""
    from pathlib import PurePosixPath

    from triage.lockfiles import FORMATS, FormatId, lockfile_format

    assert sorted(f.id for f in FORMATS) == sorted(FormatId)
    names = {
        "uv.lock": FormatId.UV,
        "poetry.lock": FormatId.POETRY,
        "Pipfile.lock": FormatId.PIPFILE,
        "pylock.toml": FormatId.PYLOCK,
        "pylock.dev.toml": FormatId.PYLOCK,
        "requirements-dev.txt": FormatId.REQUIREMENTS,
        "pyproject.toml": FormatId.PYPROJECT,
    }
    for name, expected in names.items():
        found = lockfile_format(PurePosixPath(name))
        assert found is not None and found.id is expected, name
    for name in ("Cargo.lock", "pylock.txt", "package-lock.json", "setup.cfg"):
        assert lockfile_format(PurePosixPath(name)) is None, name
    with pytest.raises(LockfileError, match="not a lockfile name triage reads"):
        read_lockfile(Path("/nowhere/Cargo.lock"), Path("/nowhere"))
