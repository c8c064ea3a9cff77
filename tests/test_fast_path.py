"""The fast scan path (issue 12) gives the same results as a straightforward one: the match
index against OSV's evaluation, the cached readings against fresh ones, the click-free
`triage scan` against click's."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

import triage.lockfiles.uv
from tests.conftest import LOCKFILES
from triage import lockfiles, store
from triage.cli import main
from triage.cli.app import run
from triage.core import index, matching
from triage.service import scan as scan_service
from triage.settings import Settings
from triage.store import migrations
from triage.store.match_index import Lookup

REAL_LOCKFILES = sorted(p for p in LOCKFILES.iterdir() if p.is_file() and p.suffix != ".md")


def test_the_schema_version_the_connection_knows_is_the_last_migration() -> None:
    from triage.store import connection

    assert connection.SCHEMA_VERSION == migrations.SCHEMA_VERSION


def test_the_match_index_agrees_with_osv_evaluation_on_every_named_version(
    synced_db: Path,
) -> None:
    """Every version any record names, and its neighbours (pre-, post-, dev- and local
    releases around it), placed by the index and by the reference evaluation."""
    with store.Database(synced_db) as db:
        names = [row[0] for row in db.rows("select distinct package from affected")]
        advisories, _ = store.AdvisoryStore(db).candidates(names)
        looked_up = store.AdvisoryStore(db).compiled(names)
    assert looked_up.rederived == ()  # a synced index agrees with its records
    compiled = looked_up.compiled
    live = matching._live_entries(advisories)
    forms = {name: index.decode(text) for name, text in compiled.items()}
    checked = 0
    for name in names:
        texts = {"0", "0.0.1", "1!0", "9999"}
        for _, entry in live.get(name, []):
            texts.update(entry.versions)
            texts.update(e.version for r in entry.ranges for e in r.events)
        # Each named version's neighbours on either side: a post-release just above it, a
        # pre-release just below it.
        texts |= {f"{t}{suffix}" for t in list(texts) for suffix in (".post1", "a1")}
        for text in sorted(texts):
            version = matching.parse_version(text)
            if version is None:
                continue
            expected = {a.id for a, e in live.get(name, []) if matching.affects(e, text, version)}
            found = set(index.affecting(forms[name], version)) if name in forms else set()
            assert found == expected, (name, text)
            checked += 1
    assert checked > 30_000


@pytest.mark.parametrize("lockfile", REAL_LOCKFILES, ids=lambda p: p.name)
def test_findings_through_the_index_equal_the_reference_path(
    synced_db: Path, lockfile: Path
) -> None:
    """Every real lockfile: the scan's matching (index, then the records it names) against
    matching every record of every locked name."""
    contents = lockfiles.read_lockfile(lockfile, lockfile.parent)
    with store.Database(synced_db) as db:
        found, unpinned = scan_service.match(db, contents.packages, contents.unpinned)
        advisories, groups = store.AdvisoryStore(db).candidates(
            {p.name for p in contents.packages} | {u.name for u in contents.unpinned}
        )
    reference = matching.match(contents.packages, advisories, groups)
    assert found == reference
    every = (*contents.unpinned, *reference.unmatchable)
    assert unpinned == matching.possibly_affected(every, advisories, groups)


def _copy_db(synced_db: Path, tmp_path: Path) -> Path:
    """A copy of the synced database and an empty project folder beside it."""
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    (tmp_path / "project").mkdir()
    return db


def _scan(capsys: pytest.CaptureFixture[str], root: Path, db: Path) -> tuple[int, str]:
    code = main(["scan", str(root), "--db", str(db), "--format", "json"])
    return code, capsys.readouterr().out


def test_an_unchanged_lockfile_is_read_from_the_cache_and_a_changed_one_again(
    synced_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = _copy_db(synced_db, tmp_path)
    root = tmp_path / "project"
    shutil.copy(
        LOCKFILES / "fastapi__full-stack-fastapi-template__backend__uv.lock", root / "uv.lock"
    )
    first = _scan(capsys, root, db)

    def no_parsing(*args: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(triage.lockfiles.uv, "read_uv", no_parsing)
    assert _scan(capsys, root, db) == first  # served from the cache: the same report
    # One byte more (a trailing newline) is another content: it is read again.
    with (root / "uv.lock").open("a") as handle:
        handle.write("\n")
    code = main(["scan", str(root), "--db", str(db), "--format", "json"])
    assert code == 5 and "AssertionError: parsed again" in capsys.readouterr().err


def test_a_requirements_file_with_an_include_is_never_served_from_the_cache(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The included file may change while the including one does not: its reading must not
    be keyed by the including file alone (an empty include filling later went unseen)."""
    db = _copy_db(synced_db, tmp_path)
    root = tmp_path / "project"
    (root / "requirements.txt").write_text("-r base.txt\n")
    (root / "base.txt").write_text("")
    code, _ = _scan(capsys, root, db)
    assert code == 0
    (root / "base.txt").write_text("urllib3==2.0.0\n")
    code, out = _scan(capsys, root, db)
    assert code == 1 and '"package": "urllib3"' in out


PLAIN_FORMS = [
    [],
    ["--format", "json"],
    ["--format=markdown", "-q"],
    ["--lockfile", "requirements.txt", "-v"],
    ["--lockfile=requirements.txt", "--lockfile", "requirements.txt"],
    ["--config", "deny.toml", "--trust-store", "anchors", "--quiet", "--verbose"],
]
CLICK_FORMS = [
    ["--help"],
    ["--format", "yaml"],
    ["--format"],
    ["--db"],
    ["-qq"],
    ["--format", "json", "--format", "text"],
    ["--unknown"],
    ["requirements.txt"],  # a file where PATH names a folder
    ["--", "x"],
    ["a", "b"],
]


@pytest.mark.parametrize("form", PLAIN_FORMS + CLICK_FORMS, ids=" ".join)
def test_the_click_free_scan_answers_as_click_does(
    form: list[str],
    synced_db: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = _copy_db(synced_db, tmp_path)
    project = tmp_path / "project"
    (project / "requirements.txt").write_text("urllib3==2.0.0\nrequests>=2\n")
    (project / "deny.toml").write_text("[advisories]\nignore = []\n")
    monkeypatch.chdir(project)
    monkeypatch.setenv("TRIAGE_DB", str(db))
    args = ["scan", *form]
    quick = main(args), capfd.readouterr()
    by_click = run(args, Settings.from_environment()), capfd.readouterr()
    assert quick == by_click
    if form in PLAIN_FORMS:
        assert quick[0] == 1 and "urllib3" in quick[1].out  # really scanned


PLAIN_DIFFS = [
    ["--base", "main"],
    ["--base=main", "--format", "json"],
    ["--base", "main", "--head", "feature", "-q"],
    ["--base", "main", "--format=markdown", "--offline", "-v"],
    ["--config", "deny.toml", "--base", "main", "--quiet", "--quiet", "--verbose"],
]
CLICK_DIFFS = [
    [],
    ["--base"],
    ["--base", "main", "--format", "sarif"],
    ["--base", "main", "--lockfile", "requirements.txt"],
    ["--base", "main", "--base", "feature"],
    ["--base", "main", "--witness", "w.json"],
    ["--help"],
]


@pytest.mark.parametrize("form", PLAIN_DIFFS + CLICK_DIFFS, ids=" ".join)
def test_the_click_free_diff_answers_as_click_does(
    form: list[str],
    synced_db: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.gitrepos import GitRepo

    db = _copy_db(synced_db, tmp_path)
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "urllib3==2.0.7\n", "deny.toml": ""})
    repo.branch("feature")
    repo.commit("bump", {"requirements.txt": "urllib3==2.0.0\n"})
    monkeypatch.chdir(repo.root)
    monkeypatch.setenv("TRIAGE_DB", str(db))
    monkeypatch.setenv("TRIAGE_OFFLINE", "1")  # what the index says is bench_lookups'
    args = ["diff", *form]
    quick = main(args), capfd.readouterr()
    by_click = run(args, Settings.from_environment()), capfd.readouterr()
    assert quick == by_click
    if form in PLAIN_DIFFS:
        assert quick[0] == 1 and "urllib3" in quick[1].out  # really diffed


def test_a_plain_diff_does_not_load_click(synced_db: Path, tmp_path: Path) -> None:
    from tests.gitrepos import GitRepo

    db = _copy_db(synced_db, tmp_path)
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "urllib3==2.0.7\n"})
    repo.branch("feature")
    repo.commit("bump", {"requirements.txt": "urllib3==2.0.0\n"})
    probe = (
        "import sys\n"
        "from triage.cli import main\n"
        f"code = main(['diff', {str(repo.root)!r}, '--base', 'main', '--db', {str(db)!r}, "
        "'-q', '--offline'])\n"
        "print(code, 'click' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "1 False"


HEAVY = ("click", "sqlite_utils", "yaml", "rich", "dataclasses", "pip_requirements_parser")


def test_a_warm_scan_loads_none_of_the_heavy_modules(synced_db: Path, tmp_path: Path) -> None:
    """What the scan path must not import (issue 12), seen in a fresh interpreter running the
    entry point twice: once to fill the reading cache, once warm."""
    db = _copy_db(synced_db, tmp_path)
    root = tmp_path / "project"
    shutil.copy(LOCKFILES / "invoke-ai__InvokeAI__uv.lock", root / "uv.lock")
    probe = (
        "import sys\n"
        "from triage.cli import main\n"
        f"code = main(['scan', {str(root)!r}, '--db', {str(db)!r}, '-q'])\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
    assert done.stdout.splitlines()[-1] == "0 []"


def test_a_damaged_cache_or_index_is_read_around_not_trusted(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited database: a cached reading that is not one, a compiled form that is not
    one. The lockfile is read again and every record of the package matched: the same
    findings, no traceback."""
    db = _copy_db(synced_db, tmp_path)
    root = tmp_path / "project"
    (root / "requirements.txt").write_text("urllib3==2.0.0\npillow==9.0.0\n")
    expected = _scan(capsys, root, db)
    with sqlite3.connect(db) as connection:
        connection.execute("update lockfile_cache set contents = '{\"packages\": 7}'")
        connection.execute("update match_index set compiled = '[1, 2' where package = 'urllib3'")
    assert _scan(capsys, root, db) == expected
    assert expected[0] == 1 and '"package": "urllib3"' in expected[1]


def test_a_record_with_two_entries_for_one_package_reports_the_fix_of_the_one_that_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PyPA's data has no such record, OSV allows it: each entry is evaluated, so the fix shown
    is the one of the range the locked version is in."""
    source = tmp_path / "records"
    source.mkdir()
    record = {
        "id": "PYSEC-2099-1",
        "modified": "2099-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.6"}]}
                ],
            },
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.6"}]}
                ],
            },
        ],
    }
    (source / "PYSEC-2099-1.json").write_text(json.dumps(record))
    db = tmp_path / "t.db"
    assert main(["db", "sync", "--source", str(source), "--db", str(db), "-q"]) == 0
    root = tmp_path / "project"
    root.mkdir()
    for locked, fix in (("1.5", ["1.6"]), ("2.5", ["2.6"]), ("1.7", None)):
        (root / "requirements.txt").write_text(f"demo=={locked}\n")
        capsys.readouterr()
        code, out = _scan(capsys, root, db)
        findings = json.loads(out)["findings"]
        assert [f["fixed_versions"] for f in findings] == ([fix] if fix else [])
        assert code == (1 if fix else 0)


def test_a_record_gone_between_the_index_check_and_its_reading_is_exit_3_not_a_lost_finding(
    synced_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync writing while a scan reads: the index named a record that is gone when its
    head is read. The scan stops (exit 3, the database named) rather than drop the finding."""
    db = _copy_db(synced_db, tmp_path)
    root = tmp_path / "project"
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")
    assert _scan(capsys, root, db)[0] == 1
    checked = store.AdvisoryStore.compiled

    def then_a_writer(self: store.AdvisoryStore, names: Iterable[str]) -> Lookup:
        found = checked(self, names)
        with sqlite3.connect(db) as other:
            other.execute("delete from advisories where id in (select advisory_id from affected)")
        return found

    monkeypatch.setattr(store.AdvisoryStore, "compiled", then_a_writer)
    code = main(["scan", str(root), "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 3 and f"{db}: 2 advisory record(s) the match index names" in err
    assert "Traceback" not in err and "run the command again" in err
