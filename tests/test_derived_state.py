"""Derived state is bound to what it was derived from (issue 21). For each derived table, two
tampers through the CLI: (a) a row edited to a valid but wrong value, nothing else touched:
the next command notices and derives it again, never another verdict in silence; (b) the row
and every digest beside it edited consistently: `triage db verify` names the row, a witness
made before the edit no longer verifies, and a Celery worker holding that database is
refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NOW
from tests.gitrepos import GitRepo
from tests.http_stub import serve_get, serve_index
from tests.test_fail_closed import triage
from triage import store
from triage.store.derived import row_digest
from triage.store.match_index import index_deriver

URLLIB3 = {"PYSEC-2023-192/urllib3", "PYSEC-2023-212/urllib3"}
EMPTY_FORM = json.dumps({"bounds": [], "records": []})


@pytest.fixture
def repo(synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("lock", {"requirements.txt": "urllib3==2.0.0\n"})
    shutil.copy(synced_db, tmp_path / "t.db")
    with sqlite3.connect(tmp_path / "t.db") as connection:  # other tests' cached rows
        for table in ("lockfile_cache", "license_cache", "provenance_cache"):
            connection.execute(f"delete from {table}")
    monkeypatch.setenv("TRIAGE_DB", str(tmp_path / "t.db"))
    monkeypatch.chdir(repo.root)
    return repo


def db_of(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


def findings(capsys: pytest.CaptureFixture[str]) -> tuple[int, set[str], str]:
    code, out, err = triage(capsys, "scan", "--format", "json")
    return code, {f["key"] for f in json.loads(out)["findings"]}, err


def verify_db(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code, out, _ = triage(capsys, "db", "verify")
    return code, [line for line in out.splitlines() if line.startswith("differs: ")]


def edit(db: Path, sql: str, *parameters: object) -> None:
    with sqlite3.connect(db) as connection:
        assert connection.execute(sql, parameters).rowcount == 1


# --- the match index -------------------------------------------------------------------------


def test_an_edited_match_index_row_is_noticed_by_the_next_scan_and_derived_again(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert findings(capsys)[:2] == (1, URLLIB3)
    edit(
        db_of(tmp_path), "update match_index set compiled = ? where package = 'urllib3'", EMPTY_FORM
    )
    code, found, err = findings(capsys)
    assert code == 1 and found == URLLIB3  # never another verdict
    assert "the match index of 1 package(s) did not match their advisory records (urllib3)" in err
    assert verify_db(capsys) == (0, [])  # and the row was made right
    edit(db_of(tmp_path), "delete from match_index where package = 'urllib3'")
    assert findings(capsys)[:2] == (1, URLLIB3)


def test_a_consistently_edited_match_index_is_named_by_db_verify_witness_verify_and_workers(
    repo: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    github: object,
) -> None:
    assert triage(capsys, "scan", "--witness", "w.json")[0] == 1
    db = db_of(tmp_path)
    with store.Database(db) as opened:
        honest = store.AdvisoryStore(opened).content_digest()
        (inputs,) = opened.rows("select inputs from match_index where package = 'urllib3'")[0]
    made_by = index_deriver()
    edit(
        db,
        "update match_index set compiled = ?, digest = ? where package = 'urllib3'",
        EMPTY_FORM,
        row_digest("urllib3", inputs, made_by, EMPTY_FORM),
    )
    assert verify_db(capsys) == (
        3,
        ["differs: match_index urllib3: differs from what its records compile to"],
    )
    code, out, _ = triage(capsys, "witness", "verify", "w.json", "--allow-unsigned")
    assert code == 1 and f"mismatch: database digest: {honest} recorded" in out
    # One made on the edited database records its digest, and its "pass": the reference path
    # (no index) finds what the records say.
    assert triage(capsys, "scan", "--witness", "lying.json")[0] == 0
    code, out, _ = triage(capsys, "witness", "verify", "lying.json", "--allow-unsigned")
    assert code == 1 and "mismatch: verdict: pass recorded, fail now" in out

    from triage.github.session import LocalBudget
    from triage.service import org, org_task
    from triage.settings import Settings

    settings = Settings.from_environment()
    worker = org.worker_context(settings, LocalBudget(), "test-worker")
    task = org_task.RepoTask("acme/x", "main", honest, NOW.isoformat())
    outcome = org_task.run(task, worker)
    assert outcome.requests == 0 and outcome.error is not None
    assert "judged with different data" in outcome.error

    assert triage(capsys, "db", "verify", "--repair")[0] == 3  # names it, and makes it right
    assert verify_db(capsys) == (0, [])
    assert triage(capsys, "witness", "verify", "w.json", "--allow-unsigned")[0] == 0


def test_a_sync_with_nothing_new_repairs_a_stale_or_foreign_index(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = db_of(tmp_path)
    source = tmp_path / "src"
    shutil.copytree(Path(__file__).resolve().parents[2] / "shared/data/pypa-advisory-db", source)
    sync = ["db", "sync", "--source", str(source)]
    assert triage(capsys, *sync)[0] == 0
    assert triage(capsys, *sync)[0] == 0  # nothing changed: the source is skipped
    edit(db, "update match_index set deriver = 'another-build' where package = 'urllib3'")
    edit(db, "update match_index set inputs = 'sha256:stale' where package = 'pillow'")
    code, _, err = triage(capsys, *sync)
    assert code == 0
    assert "the match index of 2 package(s) did not match their records (pillow, urllib3)" in err
    assert verify_db(capsys) == (0, [])


# --- lockfile readings -----------------------------------------------------------------------


def _reading(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as connection:
        key, contents = connection.execute("select blob, contents from lockfile_cache").fetchone()
    return str(key), str(contents)


def test_an_edited_reading_is_not_served_and_a_consistent_edit_is_named(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert triage(capsys, "scan", "--witness", "w.json")[0] == 1
    db = db_of(tmp_path)
    key, contents = _reading(db)
    lying = contents.replace('"2.0.0"', '"2.0.7"')  # the locked version, as the reading has it
    assert lying != contents
    # (a) the reading alone: not served; the file is read again.
    edit(db, "update lockfile_cache set contents = ?", lying)
    code, found, err = findings(capsys)
    assert code == 1 and found == URLLIB3
    assert f"lockfile_cache {key}: the cached row does not match its own digest" in err
    # (b) the reading and its digest: served (only the bytes can tell), so named elsewhere.
    edit(db, "update lockfile_cache set contents = ?, digest = ?", lying, row_digest(key, lying))
    assert findings(capsys)[:2] == (0, set())
    assert verify_db(capsys) == (
        3,
        [f"differs: lockfile_cache {key}: differs from what its bytes read as"],
    )
    # A witness made on the edited cache says "pass"; verify reads the file itself.
    assert triage(capsys, "scan", "--witness", "lying.json")[0] == 0
    code, out, _ = triage(capsys, "witness", "verify", "lying.json", "--allow-unsigned")
    assert code == 1 and "mismatch: verdict: pass recorded, fail now" in out
    assert "mismatch: finding set differs: newly found: PYSEC-2023-192/urllib3 active" in out
    # The one made before still holds: nothing it was computed from has changed.
    assert triage(capsys, "witness", "verify", "w.json", "--allow-unsigned")[0] == 0
    assert triage(capsys, "db", "verify", "--repair")[0] == 3
    assert findings(capsys)[:2] == (1, URLLIB3)


# --- license metadata ------------------------------------------------------------------------

GPL = {"info": {"license_expression": "GPL-3.0-only"}}


@pytest.fixture
def pypi(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    def answer(path: str) -> tuple[int, bytes]:
        return (200, json.dumps(GPL).encode()) if "/urllib3/" in path else (404, b"{}")

    with serve_get(answer) as (url, asked):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        yield asked


def test_an_edited_license_row_never_passes_a_denied_package(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], pypi: list[str]
) -> None:
    (repo.root / "deny.toml").write_text('[licenses]\nallow = ["MIT"]\n')
    check = ["licenses", "check", "--format", "json"]
    code, out, _ = triage(capsys, *check)
    assert code == 1 and json.loads(out)["packages"][0]["verdict"] == "not-allowed"
    db = db_of(tmp_path)
    mit = json.dumps({"license_expression": "MIT", "license": None, "classifiers": None})
    # (a) the row alone: refused where read; offline it is not judged (a deny), never MIT.
    edit(db, "update license_cache set metadata = ?", mit)
    code, out, err = triage(capsys, *check, "--offline")
    assert code == 1 and json.loads(out)["packages"][0]["verdict"] == "not-judged"
    assert "license_cache urllib3 2.0.0: the cached row does not match its own digest" in err
    # (b) the row and its digest: db verify derives it again from PyPI's kept answer.
    with sqlite3.connect(db) as connection:
        inputs, made_by, fetched = connection.execute(
            "select inputs, deriver, fetched from license_cache"
        ).fetchone()
    forged = row_digest("urllib3", "2.0.0", mit, inputs, made_by, fetched)
    edit(db, "update license_cache set digest = ?", forged)
    assert verify_db(capsys) == (
        3,
        ["differs: license_cache urllib3 2.0.0: differs from what PyPI's kept answer says"],
    )
    assert triage(capsys, "db", "verify", "--repair")[0] == 3
    code, out, _ = triage(capsys, *check)  # asked again, and judged as PyPI says
    assert code == 1 and json.loads(out)["packages"][0]["verdict"] == "not-allowed"
    assert len(pypi) == 2


# --- provenance ------------------------------------------------------------------------------


def test_an_edited_provenance_row_is_not_used_and_the_verdict_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provenance row rewritten to say PyPI had none (an attested file would pass as
    merely unsigned) is not believed: it is asked for again, and with PyPI gone the run says
    what it could not check. Its digest is its only check: the row is PyPI's own answer, so an
    edit with its digest recomputed is an edit of a primary fact (README, Derived state)."""
    from tests.test_trust import PYPI_ATTESTATIONS, check, lock, real_artifacts, real_index

    lock(tmp_path, *real_artifacts())
    with serve_index(real_index()) as (url, _):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, verdicts, _ = check(capsys, tmp_path, "basic", unsigned="deny", provenance=None)
    assert verdicts[PYPI_ATTESTATIONS][0] == "trusted"
    db = tmp_path / "t.db"
    edit(db, f"update provenance_cache set provenance = '' where filename = '{PYPI_ATTESTATIONS}'")
    code, verdicts, err = check(capsys, tmp_path, "basic", unsigned="deny", provenance=None)
    assert f"provenance_cache {PYPI_ATTESTATIONS}: the cached row does not match its own" in err
    assert verdicts[PYPI_ATTESTATIONS][0] == "unsigned" and code == 1  # failing, and said
    assert "file(s) not checked, using cached provenance only" in err
    monkeypatch.setenv("TRIAGE_DB", str(db))  # the test's database, not the checkout's
    code, differing = verify_db(capsys)
    assert code == 3 and any(PYPI_ATTESTATIONS in line for line in differing), differing


def test_an_edited_project_page_is_asked_for_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept project page edited to say a file has no provenance (so a new file would pass
    as unsigned without a look) is not reused with its ETag: the page is asked for in full."""
    from tests.test_trust import PYPI_ATTESTATIONS, check, lock, real_artifacts, real_index

    wheel = "pypi_attestations-0.0.19-py3-none-any.whl"
    lock(tmp_path, real_artifacts()[0])
    with serve_index(real_index()) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        assert check(capsys, tmp_path, "basic", provenance=None)[0] == 0
        edit(tmp_path / "t.db", "update index_pages set files = x'00'")
        served.clear()
        lock(tmp_path, real_artifacts()[0], ("pypi-attestations", "0.0.19", wheel, "ab" * 32))
        code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
    assert code == 0 and served == [("/simple/pypi-attestations/", 200)], err
    assert "index_pages" in err and verdicts[PYPI_ATTESTATIONS][0] == "trusted"


def test_an_edited_organisation_memory_is_forgotten_not_believed(tmp_path: Path) -> None:
    """The org audit believes a remembered tree when GitHub answers 304: an edited row (a
    tree without its lockfile, say) is forgotten instead, so that repository is read afresh."""
    memory = store.RepoMemory(
        "acme/app",
        branch="main",
        etag='W/"etag"',
        entries=[("uv.lock", "100644", "a" * 40), ("deny.toml", "100644", "b" * 40)],
        read={"uv.lock": "a" * 40},
    )
    with store.Database(tmp_path / "o.db") as db:
        orgs = store.OrgStore(db)
        orgs.remember("acme", memory, NOW.isoformat())
        assert orgs.memories("acme")["acme/app"].etag == 'W/"etag"'
        db.write("update org_repos set read = '{}'")  # nothing read: the lockfile unseen
        assert orgs.memories("acme") == {}


def test_an_index_row_another_build_derived_is_derived_again_without_a_word(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After an upgrade every row was compiled by the old build: expected, so not a warning,
    but never used as it stands either."""
    assert findings(capsys)[:2] == (1, URLLIB3)
    db = db_of(tmp_path)
    with sqlite3.connect(db) as connection:
        compiled, inputs = connection.execute(
            "select compiled, inputs from match_index where package = 'urllib3'"
        ).fetchone()
    edit(
        db,
        "update match_index set deriver = 'older', digest = ? where package = 'urllib3'",
        row_digest("urllib3", inputs, "older", compiled),
    )
    code, found, err = findings(capsys)
    assert code == 1 and found == URLLIB3 and "match index" not in err
    with sqlite3.connect(db) as connection:
        (made_by,) = connection.execute(
            "select deriver from match_index where package = 'urllib3'"
        ).fetchone()
    assert made_by == index_deriver()
