"""`triage db sync`: incremental, atomic, zip and git sources, the embedded snapshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ADVISORY_DB, ADVISORY_DB_OLD, NOW, workspace
from triage import sources, store
from triage.cli import main
from triage.errors import AdvisoryRecordError, DatabaseError, InputError
from triage.service import sync

FEW = ["jinja2", "urllib3", "redis"]  # redis holds a withdrawn record


def copy_records(into: Path, packages: list[str] = FEW) -> Path:
    for name in packages:
        shutil.copytree(ADVISORY_DB / "vulns" / name, into / "vulns" / name)
    return into


def test_full_sync_then_noop_then_the_data_moves_on(tmp_path: Path, synced_db: Path) -> None:
    source, db = tmp_path / "advisories", tmp_path / "t.db"
    shutil.copytree(ADVISORY_DB_OLD, source)
    first = sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    assert first.records == 2591
    again = sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    c = again.counts
    assert (c.added, c.modified, c.withdrawn, c.removed, c.unchanged) == (0, 0, 0, 0, 2591)
    before = sync.status(workspace(db, NOW)).digest
    # The same checkout eight months later (../shared/data/README.md: 71 records added,
    # 5 modified, 1 deleted). Two of the five edits kept their `modified` stamp: one changed
    # a fact matching uses, so it is rewritten (content decides, not the stamp); the other did
    # not. One of the three others withdrew its record.
    shutil.rmtree(source)
    shutil.copytree(ADVISORY_DB, source)
    moved = sync.sync(workspace(db, NOW), [str(source)], require_all=True).counts
    assert (moved.added, moved.modified, moved.withdrawn, moved.removed) == (71, 3, 1, 1)
    info = sync.status(workspace(db, NOW))
    assert info.records == 2661 and info.digest != before
    # The incremental sync ends where a fresh sync of the same data does.
    assert info.digest == sync.status(workspace(synced_db, NOW)).digest


def test_modified_record_is_rewritten_and_unchanged_modified_is_untouched(tmp_path: Path) -> None:
    source = copy_records(tmp_path / "src")
    db = tmp_path / "t.db"
    sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    record = next((source / "vulns" / "jinja2").glob("*.yaml"))
    text = record.read_text()
    # A cosmetic edit with the same `modified` is not an update.
    record.write_text(text + "\n# trailing comment\n")
    same = sync.sync(workspace(db, NOW), [str(source)], require_all=True).counts
    assert (same.added, same.modified, same.unchanged) == (0, 0, len(list(source.rglob("*.yaml"))))
    bumped = text.replace("modified:", "modified: '2030-01-01T00:00:00Z'\nold_modified:", 1)
    record.write_text(bumped)
    report = sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    assert report.counts.modified == 1
    assert sync.status(workspace(db, NOW)).newest_modified == "2030-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("broken", "place"),
    [
        ("    - fixed: '1.0'\n    - sideways: '2.0'\n", r"events\[\d+\]: unknown event 'sideways'"),
        ("    - fixed: '1.0'\n    - {}\n", r"events\[\d+\]: each event must have exactly one"),
    ],
)
def test_broken_record_aborts_the_whole_sync(tmp_path: Path, broken: str, place: str) -> None:
    source = copy_records(tmp_path / "src")
    db = tmp_path / "t.db"
    sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    before = sync.status(workspace(db, NOW))
    (source / "vulns" / "newpkg").mkdir()
    good = next((source / "vulns" / "urllib3").glob("*.yaml"))
    good.write_text(
        good.read_text().replace("modified:", "modified: '2031-01-01T00:00:00Z'\nx:", 1)
    )
    (source / "vulns" / "newpkg" / "PYSEC-2099-1.yaml").write_text(
        "id: PYSEC-2099-1\nmodified: '2030-01-01T00:00:00Z'\naffected:\n- package:\n"
        "    ecosystem: PyPI\n    name: newpkg\n  ranges:\n  - type: ECOSYSTEM\n    events:\n"
        "    - introduced: '0'\n" + broken
    )
    with pytest.raises(
        AdvisoryRecordError,
        match=r"newpkg/PYSEC-2099-1\.yaml: affected\[0\]"
        r"\.ranges\[0\]\." + place,
    ):
        sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    after = sync.status(workspace(db, NOW))
    assert (after.digest, after.records, after.newest_modified) == (
        before.digest,
        before.records,
        before.newest_modified,
    )


def test_zip_export_syncs_and_escaping_entries_are_refused(tmp_path: Path) -> None:
    source = copy_records(tmp_path / "src")
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in source.rglob("*.yaml"):
            archive.write(record, record.name)
    db = tmp_path / "t.db"
    report = sync.sync(workspace(db, NOW), [str(export)], require_all=True)
    assert report.records == len(list(source.rglob("*.yaml"))) and report.counts.withdrawn >= 1
    before = sync.status(workspace(db, NOW)).digest
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("PYSEC-1.json", "{}")
        archive.writestr("../../etc/cron.d/x.json", "{}")
    with pytest.raises(
        InputError, match=r"evil\.zip: entry '\.\./\.\./etc/cron\.d/x\.json' escapes"
    ):
        sync.sync(workspace(db, NOW), [str(evil)], require_all=True)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.json", b"0" * 50_000_000)
    with pytest.raises(InputError, match=r"bomb\.zip: expands past the safety limit"):
        sync.sync(workspace(db, NOW), [str(bomb)], require_all=True)
    assert sync.status(workspace(db, NOW)).digest == before


def test_git_checkout_records_its_revision(tmp_path: Path) -> None:
    source = copy_records(tmp_path / "repo", ["jinja2"])
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "records"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    db = tmp_path / "t.db"
    sync.sync(workspace(db, NOW), [str(source)], require_all=True)
    opened = store.Database(db)
    rows = list(opened.db.query("select kind, revision from sources"))
    opened.close()
    assert rows == [{"kind": "git", "revision": head.strip()}]


def test_offline_sync_falls_back_to_the_embedded_snapshot(tmp_path: Path, synced_db: Path) -> None:
    db = tmp_path / "t.db"
    report = sync.sync(workspace(db, NOW), ["http://127.0.0.1:9/all.zip"])
    assert report.unreachable and "download failed" in report.unreachable[0]
    assert report.used_snapshot and report.records == 2661
    # The snapshot keeps every fact matching needs: the content digests agree with the full
    # PyPA database synced from its records.
    assert sync.status(workspace(db, NOW)).digest == sync.status(workspace(synced_db, NOW)).digest


def test_sync_offline_reads_local_sources_and_fetches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--offline: a URL source is not asked for (said, not an error), a folder is read."""
    from tests.http_stub import serve_get

    db = str(tmp_path / "t.db")
    local = tmp_path / "local"
    shutil.copytree(ADVISORY_DB / "vulns" / "urllib3", local / "vulns" / "urllib3")
    with serve_get(lambda path: (500, b"")) as (url, asked):
        code = main(["db", "sync", "--source", f"{url}/all.zip", "--db", db, "--offline"])
        err = capsys.readouterr().err
        assert code == 0 and asked == [], err
        assert f"{url}/all.zip: not fetched (offline); its stored records stand" in err
        assert main(["db", "sync", "--source", str(local), "--db", db, "--offline"]) == 0
    assert asked == [] and sync.status(workspace(Path(db), NOW)).sources == (str(local),)


def test_a_file_that_is_not_a_database_is_exit_3(tmp_path: Path) -> None:
    bogus = tmp_path / "t.db"
    bogus.write_text("this is not sqlite " * 100)
    with pytest.raises(DatabaseError, match=r"t\.db: advisory database is unusable") as raised:
        sync.status(workspace(bogus, NOW))
    assert raised.value.exit_code == 3


def test_zip_export_streams_from_a_url(tmp_path: Path) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    source = copy_records(tmp_path / "src", ["jinja2"])
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "all.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for record in source.rglob("*.yaml"):
            archive.write(record, record.name)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=served))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/all.zip"
        ticks: list[tuple[str, int]] = []
        progress = lambda label, done, total: ticks.append((label, done))  # noqa: E731
        report = sync.sync(
            workspace(tmp_path / "t.db", NOW, progress=progress), [url], require_all=True
        )
    finally:
        server.shutdown()
    assert report.records == len(list(source.rglob("*.yaml"))) > 0
    downloaded = [done for label, done in ticks if label.startswith("downloading")]
    assert downloaded[-1] == (served / "all.zip").stat().st_size


def test_unreachable_sources_leave_the_stored_data_and_its_sync_time(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    sync.sync(
        workspace(db, NOW), [str(copy_records(tmp_path / "src", ["jinja2"]))], require_all=True
    )
    before = sync.status(workspace(db, NOW))
    later = NOW.replace(year=2027)
    report = sync.sync(workspace(db, later), ["http://127.0.0.1:9/all.zip"])
    assert report.unreachable and "download failed" in report.unreachable[0]
    assert not report.used_snapshot
    assert sync.status(workspace(db, later)).last_sync == before.last_sync


def test_a_noop_sync_reads_no_record_file_and_a_same_size_edit_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12: an unchanged local source is skipped by its own fingerprint, before any file
    is opened; an edit that keeps the size and puts the modification time back is seen by
    the change time, which nobody can set back."""
    source = copy_records(tmp_path / "src")
    db = tmp_path / "t.db"
    # Files written a moment ago may change again within the file system's clock tick; here
    # they are taken as settled so the test need not wait.
    monkeypatch.setattr(sources.listing, "RACY_SECONDS", 0.0)
    command = ["db", "sync", "--source", str(source), "--db", str(db)]
    assert main(command) == 0
    total = len(list(source.rglob("*.yaml")))
    opened: list[str] = []
    reading = sources.listing._directory_entries

    def counted(root: Path) -> list[sources.Entry]:
        opened.append(str(root))
        return reading(root)

    monkeypatch.setattr(sources.listing, "_directory_entries", counted)
    capsys.readouterr()
    assert main(command) == 0
    assert opened == [] and f"unchanged {total}," in capsys.readouterr().out
    record = source / "vulns" / "jinja2" / "PYSEC-2019-217.yaml"
    before = record.stat()
    text = record.read_text()
    record.write_text(text.replace("fixed: 2.10.1", "fixed: 2.10.2", 1))
    os.utime(record, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert record.stat().st_size == before.st_size and record.read_text() != text
    assert main(command) == 0
    assert opened == [str(source)] and "modified 1," in capsys.readouterr().out


@pytest.mark.parametrize(
    ("source", "loopback", "said"),
    [
        ("file:///etc/passwd", True, "file:///etc/passwd: not fetched: only https URLs are"),
        ("ftp://127.0.0.1/all.zip", True, "not fetched: only https URLs are"),
        ("http://example.com/all.zip", True, "http://example.com/all.zip: not fetched"),
        ("http://127.0.0.1:9/all.zip", False, "plain http to this machine only with"),
        ("redirect:file:///etc/passwd", True, "file:///etc/passwd: not fetched"),
        ("redirect:http://example.com/all.zip", True, "http://example.com/all.zip: not fetched"),
    ],
)
def test_only_https_is_fetched_and_every_redirect_is_checked(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    loopback: bool,
    said: str,
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    target = source.removeprefix("redirect:")

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if not loopback:
        monkeypatch.delenv("TRIAGE_LOOPBACK_HTTP")
    if source.startswith("redirect:"):
        source = f"http://127.0.0.1:{server.server_address[1]}/all.zip"
    try:
        argv = ["db", "sync", "--source", source, "--db", str(tmp_path / "t.db")]
        code = main(argv)
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert code == 2 and said in err and "Traceback" not in err
    assert "root:" not in err
