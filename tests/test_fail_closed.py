"""Fail closed (SPEC §3): a scan, diff or audit either reads what an installer would install or
says loudly what it could not read; the base branch decides what a pull request's diff scans.
Driven through the CLI, as a user or a workflow would run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepos import GitRepo
from triage.cli import main

PILLOW_9 = {
    "PYSEC-2022-168/pillow",
    "PYSEC-2022-42979/pillow",
    "PYSEC-2023-175/pillow",
    "PYSEC-2023-227/pillow",
}


def osv_record(advisory: str, version: str) -> dict[str, Any]:
    """An OSV record affecting one version of the package foo."""
    return {
        "id": advisory,
        "modified": "2020-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "foo"}, "versions": [version]}],
    }


def triage(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def scanned(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> tuple[int, Any]:
    code, out, err = triage(capsys, "scan", *argv, "--db", str(db), "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def test_a_folder_without_a_lockfile_is_exit_2_with_the_fix(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "setup.py").write_text("")
    code, out, err = triage(capsys, "scan", str(tmp_path), "--db", str(synced_db))
    assert code == 2 and not out
    assert f"{tmp_path}: no lockfile found (looked for requirements*.txt" in err
    assert "fix: run triage at the repository's root, name the file with --lockfile" in err


def test_path_defaults_to_the_repository_root(
    capsys: pytest.CaptureFixture[str],
    synced_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("pins", {"requirements.txt": "pillow==9.0.0\n", "src/app/__init__.py": ""})
    monkeypatch.chdir(repo.root / "src" / "app")
    code, document = scanned(capsys, synced_db)
    assert code == 1 and [r["path"] for r in document["lockfiles"]] == ["requirements.txt"]
    assert {f["key"] for f in document["findings"]} == PILLOW_9


def test_discovery_follows_the_common_conventions(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    files = {
        "Requirements.txt": "click==8.1.7\n",
        "dev-requirements.txt": "click==8.1.7\n",
        "requirements-ci/lint.txt": "click==8.1.7\n",
        "requirements/prod.txt": "click==8.1.7\n",
        "services/api/uv.lock": 'version = 1\n[[package]]\nname = "click"\nversion = "8.1.7"\n',
        "notes.txt": "pillow==9.0.0\n",  # not a requirements file by any convention
        "env/pyvenv.cfg": "home = /usr/bin\n",
        "env/requirements.txt": "pillow==9.0.0\n",  # a virtualenv's, not the project's
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code, document = scanned(capsys, synced_db, str(tmp_path))
    assert code == 0
    assert sorted(r["path"] for r in document["lockfiles"]) == [
        "Requirements.txt",
        "dev-requirements.txt",
        "requirements-ci/lint.txt",
        "requirements/prod.txt",
        "services/api/uv.lock",
    ]


def test_scan_include_and_exclude_adjust_discovery(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "constraints").mkdir()
    (tmp_path / "constraints" / "prod.txt").write_text("pillow==9.0.0\n")
    (tmp_path / "requirements.txt").write_text("click==8.1.7\n")
    (tmp_path / "requirements-old.txt").write_text("pillow==8.0.0\n")
    (tmp_path / "deny.toml").write_text(
        '[scan]\ninclude = ["constraints/*.txt"]\nexclude = ["requirements-old.txt"]\n'
    )
    config = ["--config", str(tmp_path / "deny.toml")]
    code, document = scanned(capsys, synced_db, str(tmp_path), *config)
    assert code == 1
    assert sorted(r["path"] for r in document["lockfiles"]) == [
        "constraints/prod.txt",
        "requirements.txt",
    ]
    assert {f["key"] for f in document["findings"]} == PILLOW_9
    (tmp_path / "deny.toml").write_text('[scan]\ninclude = "constraints/*.txt"\n')
    code, _, err = triage(capsys, "scan", str(tmp_path), "--db", str(synced_db), *config)
    assert code == 2 and "scan.include: 'constraints/*.txt' is not a list of glob strings" in err


def diff(capsys: pytest.CaptureFixture[str], repo: GitRepo, db: Path) -> tuple[int, Any, str]:
    code, out, err = triage(
        capsys, "diff", str(repo.root), "--base", "main", "--db", str(db), "--format", "json"
    )
    return code, json.loads(out) if out else None, err


def test_in_a_diff_the_base_branch_decides_what_is_scanned(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n", "requirements-dev.txt": ""})
    repo.branch("feature")
    repo.commit(
        "hide a vulnerable pin from the gate",
        {
            "requirements.txt": "click==8.1.7\npillow==9.0.0\n",
            "deny.toml": '[scan]\nexclude = ["requirements.txt"]\n',
        },
    )
    code, document, err = diff(capsys, repo, synced_db)
    assert code == 1 and document is not None, err
    assert {f["key"] for f in document["new"]} == PILLOW_9


def test_a_pull_request_that_removes_every_lockfile_does_not_pass(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    repo.branch("feature")
    repo.commit("no more pins", {"requirements.txt": None, "requirements.in": "pillow\n"})
    code, document, err = diff(capsys, repo, synced_db)
    assert code == 2 and document is None
    assert "HEAD: no lockfile in the tree" in err


def test_scan_and_diff_discover_the_same_files(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """A committed virtualenv folder hides its requirements from both, not just from scan."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    repo.branch("feature")
    repo.commit(
        "vendored env",
        {"env/pyvenv.cfg": "home = /usr/bin\n", "env/requirements.txt": "pillow==9.0.0\n"},
    )
    code, document = scanned(capsys, synced_db, str(repo.root))
    assert code == 0 and [r["path"] for r in document["lockfiles"]] == ["requirements.txt"]
    code, document, err = diff(capsys, repo, synced_db)
    assert code == 0 and document is not None and not document["new"], err


REAL_WORLD_LINES = """\
requests
flask>=2.0
urllib3===1.26.0
idna>=3.4,<=3.4
pillow==9.0.0 --no-binary pillow
foo==0.9-doduo
https://files.example/packages/jinja2-2.10-py2.py3-none-any.whl
git+https://github.com/x/y.git#egg=markupsafe
https://example.org/django-1.11.tar.gz#django==1.11
"""


def test_every_real_world_requirement_line_reads(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """Bare names and ranges are unpinned, never a crash; `===` and single-version ranges are
    pins; an option on a requirement line does not reject the file; a legacy version is kept;
    a wheel URL and a `#name==version` fragment name the project and its version."""
    (tmp_path / "requirements.txt").write_text(REAL_WORLD_LINES)
    code, document = scanned(capsys, synced_db, str(tmp_path))
    assert code == 1 and document["packages"] == 6
    found = {f["package"]: f["version"] for f in document["findings"]}
    assert found == {
        "urllib3": "1.26.0",
        "idna": "3.4",
        "pillow": "9.0.0",
        "jinja2": "2.10",
        "django": "1.11",
    }
    unpinned = {u["package"]: u["reason"] for u in document["unpinned"]}
    assert unpinned["requests"] == "not pinned to one version (no version given)"
    assert unpinned["flask"] == "not pinned to one version (>=2.0)"
    assert unpinned["markupsafe"].startswith("URL requirement")
    assert "'0.9-doduo' is not a PEP 440 version" in unpinned["foo"]


def test_a_legacy_version_is_matched_exactly_against_listed_versions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "advisories"
    source.mkdir()
    record = osv_record("PYSEC-2010-1", "0.9-doduo")
    (source / "PYSEC-2010-1.json").write_text(json.dumps(record))
    db = tmp_path / "t.db"
    assert triage(capsys, "db", "sync", "--source", str(source), "--db", str(db))[0] == 0
    (tmp_path / "requirements.txt").write_text("foo==0.9-doduo\nbar==1.0\n")
    code, document = scanned(capsys, db, str(tmp_path))
    assert code == 1 and [f["key"] for f in document["findings"]] == ["PYSEC-2010-1/foo"]


def test_an_unreadable_requirement_line_names_the_file_and_line(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("click==8.1.7\npillow==9.0.0 ]]\n")
    code, out, err = triage(capsys, "scan", str(tmp_path), "--db", str(synced_db))
    assert code == 2 and not out
    assert f"{tmp_path / 'requirements.txt'}: line 2: not a requirement" in err


def test_the_pr_comment_escapes_what_the_pull_request_wrote(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """File names and ignore reasons from the pull request cannot open an HTML comment that
    hides the policy section, start a heading, break the table, or mention anyone."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    repo.branch("feature")
    hostile = "requirements-<!-- @admin |.txt"
    reason = "fine\\n# Gate: passing <!-- @security-team"
    repo.commit(
        "hostile names",
        {
            hostile: "pillow==9.0.0\n",
            "deny.toml": (
                '[advisories]\nignore = [{ id = "PYSEC-2023-192", reason = "'
                + reason
                + '", issue = "https://github.com/a/b/issues/1" }]\n'
            ),
        },
    )
    code, body, err = triage(
        capsys, "diff", str(repo.root), "--base", "main", "--db", str(synced_db),
        "--format", "markdown",
    )  # fmt: skip
    assert code == 1, err
    assert body.count("<!--") == 1 and body.startswith("<!-- triage:pr-comment -->")
    assert "@admin" not in body and "@security-team" not in body
    assert not [line for line in body.splitlines() if line.startswith("# ")]
    assert "### Policy changes — flagged for review" in body
    assert "requirements-&lt;!-- &#64;admin \\|.txt" in body
    assert "--issue <tracking issue URL> --package" in body  # accepting one stays narrow


def test_an_advisory_id_that_could_forge_a_marker_is_refused_at_sync(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "advisories"
    source.mkdir()
    record = osv_record("PYSEC-2010-1 --> <!-- triage:key=PYSEC-2023-192/urllib3", "1.0")
    (source / "evil.json").write_text(json.dumps(record))
    db = tmp_path / "t.db"
    code, _, err = triage(capsys, "db", "sync", "--source", str(source), "--db", str(db))
    assert code == 2 and "evil.json: id: 'PYSEC-2010-1 --> <!--" in err
    assert "is not an advisory id" in err


def test_a_database_with_corrupted_pages_is_exit_3_not_a_traceback(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    import shutil

    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    data = bytearray(db.read_bytes())
    for offset in range(len(data) // 3, len(data) - 4096, 4096):  # past the schema's pages
        data[offset : offset + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    (tmp_path / "requirements.txt").write_text("pillow==9.0.0\n")
    code, out, err = triage(capsys, "scan", str(tmp_path), "--db", str(db))
    assert code == 3 and not out
    assert f"{db}: advisory database is unusable" in err and "fix:" in err


def test_a_zip_entry_with_a_bad_crc_is_exit_2_and_imports_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import zipfile

    export = tmp_path / "all.zip"
    record = osv_record("PYSEC-2010-1", "1.0")
    with zipfile.ZipFile(export, "w") as archive:  # stored: the bytes are the record's own
        archive.writestr("PYSEC-2010-1.json", json.dumps(record))
    data = export.read_bytes()
    export.write_bytes(data.replace(b'"1.0"', b'"1.1"'))  # the CRC-32 no longer matches
    db = tmp_path / "t.db"
    code, _, err = triage(capsys, "db", "sync", "--source", str(export), "--db", str(db))
    assert code == 2 and "PYSEC-2010-1.json: cannot be read: Bad CRC-32" in err
    assert "nothing was imported" in err


@pytest.mark.parametrize("url", ["not a url", "ftp://github.example.com", "http://[::1"])
def test_an_unusable_github_api_url_is_a_message(
    capsys: pytest.CaptureFixture[str],
    synced_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_printed")
    monkeypatch.setenv("GITHUB_API_URL", url)
    argv = ["pr", str(repo.root), "--repo", "a/b", "--pr", "1", "--base", "main"]
    code, _, err = triage(capsys, *argv, "--db", str(synced_db))
    assert code == 2 and f"GITHUB_API_URL={url!r} is not an https URL" in err
    assert "ghp_not_printed" not in err


PILLOW_ENTRY = (
    'name = "pillow"\nversion = "9.0.0"\nsource = { registry = "https://pypi.org/simple" }\n'
)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "uv.lock",
            'version = 1\n[[package]]\nname = "pillow"\nverison = "9.0.0"\n'
            'source = { registry = "https://pypi.org/simple" }\n',
            "uv.lock: package[0].version: missing: a locked package names its version",
        ),
        (
            "poetry.lock",
            '[[package]]\nname = "pillow"\nvresion = "9.0.0"\n',
            "poetry.lock: package[0].version: missing: a locked package names its version",
        ),
        (
            "pylock.toml",
            'lock-version = "2.0"\n[[packages]]\nname = "pillow"\nversion = "9.0.0"\n',
            "pylock.toml: lock-version: format version 2.0 is newer than this triage reads",
        ),
        (
            "Pipfile.lock",
            '{"_meta": {}, "default": {"pillow": {"vresion": "==9.0.0"}}, "develop": {}}',
            "Pipfile.lock: default.pillow.version: missing: a locked package names its version",
        ),
        (
            "uv.lock",
            f"version = 2\n[[package]]\n{PILLOW_ENTRY}",
            "uv.lock: version: format version 2 is newer than this triage reads",
        ),
    ],
)
def test_a_lock_entry_that_would_vanish_is_exit_2(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path, name: str, text: str,
    expected: str,
) -> None:  # fmt: skip
    """A misspelt version key used to list a vulnerable package as unpinned (exit 0)."""
    (tmp_path / name).write_text(text)
    code, out, err = triage(capsys, "scan", str(tmp_path), "--db", str(synced_db))
    assert code == 2 and not out and expected in err


def test_workspace_members_are_listed_apart_not_as_unpinned(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "app"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "pillow" }]\n'
        f"[[package]]\n{PILLOW_ENTRY}"
    )
    code, document = scanned(capsys, synced_db, str(tmp_path))
    assert code == 1 and document["unpinned"] == []
    assert document["lockfiles"] == [
        {
            "path": "uv.lock",
            "format": "uv.lock",
            "packages": 1,
            "unpinned": 0,
            "workspace_members": ["app"],
        }
    ]


def test_a_lockfile_moved_out_of_discovery_is_flagged_for_review(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "base", {"requirements.txt": "click==8.1.7\n", "requirements-dev.txt": "click==8.1.7\n"}
    )
    repo.branch("feature")
    repo.commit(
        "move the pins where discovery does not look",
        {"requirements.txt": None, "deps/pins.txt": "click==8.1.7\npillow==9.0.0\n"},
    )
    code, document, err = diff(capsys, repo, synced_db)
    assert code == 0 and document is not None, err
    assert document["policy_changes"]["lockfiles_removed"] == ["requirements.txt"]
    code, body, _ = triage(
        capsys, "diff", str(repo.root), "--base", "main", "--db", str(synced_db),
        "--format", "markdown",
    )  # fmt: skip
    assert "### Policy changes — flagged for review" in body
    assert (
        "lockfile no longer scanned (deleted, or moved out of discovery): `requirements.txt`"
        in (body)
    )


def test_the_small_ways_a_user_was_misled(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """A missing --config says so with the right fix; db sync honours --format json; a text
    diff states the data's age."""
    (tmp_path / "requirements.txt").write_text("click==8.1.7\n")
    code, _, err = triage(
        capsys, "scan", str(tmp_path), "--db", str(synced_db), "--config", str(tmp_path / "no.toml")
    )
    assert code == 2 and "file not found (named with --config)" in err
    assert "leave --config out to use ./deny.toml" in err
    source = tmp_path / "advisories"
    source.mkdir()
    code, out, _ = triage(
        capsys, "db", "sync", "--source", str(source), "--db", str(tmp_path / "t.db"),
        "--format", "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["schema"] == "triage/sync-v1"
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    code, out, _ = triage(capsys, "diff", str(repo.root), "--base", "main", "--db", str(synced_db))
    assert code == 0 and "advisory data: 2661 records, newest modified" in out


def test_unpinned_requirements_admitting_an_affected_version_follow_the_unpinned_level(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("urllib3>=2.0\nclick\n")
    code, document = scanned(capsys, synced_db, str(tmp_path))
    assert code == 0 and document["findings"] == []  # warn, the default: reported, passes
    by_name = {u["package"]: u["possibly_affected"] for u in document["unpinned"]}
    assert {"PYSEC-2023-192", "PYSEC-2023-212"} <= set(by_name["urllib3"])
    warned = [v for v in document["policy"]["violations"] if v["code"] == "unpinned"]
    assert [v["level"] for v in warned] == ["warn"]
    assert "urllib3 is not pinned (>=2.0) and admits versions affected by" in warned[0]["message"]
    (tmp_path / "deny.toml").write_text('[advisories]\nunpinned = "deny"\n')
    config = ["--config", str(tmp_path / "deny.toml")]
    assert scanned(capsys, synced_db, str(tmp_path), *config)[0] == 1
    (tmp_path / "deny.toml").write_text('[advisories]\nunpinned = "allow"\n')
    code, document = scanned(capsys, synced_db, str(tmp_path), *config)
    assert code == 0 and not [
        v for v in document["policy"]["violations"] if v["code"] == "unpinned"
    ]


def test_a_submodule_in_the_head_tree_is_reported(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """A submodule's files are not in the tree: its lockfiles cannot be read, and the diff
    says so instead of passing over it."""
    repo = GitRepo(tmp_path / "repo")
    base = repo.commit("base", {"requirements.txt": "click==8.1.7\n"})
    tree = repo.git("write-tree")
    listing = repo.git("ls-tree", tree)
    with_submodule = repo.git("mktree", input_text=f"{listing}\n160000 commit {base}\tvendor-lib\n")
    head = repo.git("commit-tree", with_submodule, "-p", base, "-m", "vendor a submodule")
    code, _, err = triage(
        capsys, "diff", str(repo.root), "--base", "main", "--head", head, "--db", str(synced_db)
    )
    assert code == 0, err
    assert f"{head}:vendor-lib: a git submodule; lockfiles inside it are not read" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["ignore", "PYSEC-2023-192/urllib3", "--reason", "r", "--issue", "https://x.test/1"],
        ["unignore", "PYSEC-2023-192"],
        ["trust", "keygen", "ci"],
        ["trust", "certify", "urllib3==2.0.7", "--criteria", "safe-to-run", "--key", "ci"],
        ["schedule"],
    ],
)
def test_format_json_is_refused_where_there_is_no_report(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """--format json on a command that prints a message is an error, never silently text."""
    code, out, err = triage(capsys, *argv, "--format", "json")
    assert code == 2 and not out and "'json' is not 'text'" in err


def test_a_database_on_a_read_only_disk_is_exit_3_not_a_traceback(
    capsys: pytest.CaptureFixture[str], synced_db: Path
) -> None:
    """Root writes through file permissions, so the file is made immutable (chattr +i, on a
    disk filesystem: /dev/shm's tmpfs has no such flag)."""
    import shutil
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(dir="/var/tmp"))
    db = folder / "t.db"
    shutil.copy(synced_db, db)
    (folder / "requirements.txt").write_text("click==8.1.7\n")
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        shutil.rmtree(folder)
        pytest.skip("chattr +i is not available here")
    try:
        code, _, err = triage(capsys, "db", "sync", "--source", str(folder), "--db", str(db))
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
        shutil.rmtree(folder)
    assert code == 3 and "attempt to write a readonly database" in err and "fix:" in err


def test_an_included_file_that_is_not_utf8_names_itself(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("-r base.txt\nclick==8.1.7\n")
    (tmp_path / "base.txt").write_bytes("pillow==9.0.0  # caf\xe9\n".encode("latin-1"))
    code, out, err = triage(capsys, "scan", str(tmp_path), "--db", str(synced_db))
    assert code == 2 and not out and f"{tmp_path / 'base.txt'}: not UTF-8 text" in err


def test_a_duration_past_any_date_is_a_message(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("click==8.1.7\n")
    (tmp_path / "deny.toml").write_text('[advisories]\nmaximum-db-staleness = "P99999999999D"\n')
    code, _, err = triage(
        capsys, "scan", str(tmp_path), "--db", str(synced_db),
        "--config", str(tmp_path / "deny.toml"),
    )  # fmt: skip
    assert code == 2 and "advisories.maximum-db-staleness: 'P99999999999D' is not" in err


def test_an_interrupted_sync_leaves_no_scratch_folder_and_no_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from triage import sources

    source = tmp_path / "advisories"
    source.mkdir()
    (source / "PYSEC-2010-1.json").write_text(json.dumps(osv_record("PYSEC-2010-1", "1.0")))
    db = tmp_path / "t.db"
    # A temporary folder of this test's own: another test's sync may run meanwhile.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sources.listing, "decode_record", interrupted)  # Ctrl-C while reading
    code, _, err = triage(capsys, "db", "sync", "--source", str(source), "--db", str(db))
    assert code == 2 and "aborted" in err
    assert list(scratch.iterdir()) == []
    monkeypatch.undo()
    code, out, _ = triage(capsys, "db", "status", "--db", str(db), "--format", "json")
    assert code == 0 and json.loads(out)["records"] == 0
