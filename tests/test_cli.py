"""The command line as a user meets it: exit codes, messages without tracebacks, JSON schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOCKFILES, REPOSITORY
from triage.cli import main
from triage.lockfiles import read_lockfile

LNBITS = LOCKFILES / "lnbits__lnbits__poetry.lock"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def scan_lnbits(root: Path, db: Path, output_format: str) -> list[str]:
    return [
        "scan",
        str(root),
        "--lockfile",
        str(LNBITS),
        "--db",
        str(db),
        "--format",
        output_format,
    ]


def test_scan_json_follows_the_schema(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    scan = ["scan", str(tmp_path), "--lockfile", str(LNBITS), "--format", "json"]
    code, out, _ = run(
        capsys, *scan, "--db", str(synced_db), "--config", str(tmp_path / "none.toml")
    )
    assert code == 2  # a --config that does not exist is an error, not silently the defaults
    code, out, _ = run(capsys, *scan, "--db", str(synced_db))
    assert code == 1
    document = json.loads(out)
    assert list(document) == [
        "schema",
        "database",
        "findings",
        "unpinned",
        "policy",
        "index",
        "index_checked",
        "packages",
        "lockfiles",
    ]
    assert document["schema"] == "triage/scan-v1"
    assert (document["index"], document["index_checked"]) == ([], None)  # no audit yet
    ((read,),) = [document["lockfiles"]]
    assert read["path"].endswith("lnbits__lnbits__poetry.lock") and read["format"] == "poetry.lock"
    assert read["packages"] == document["packages"] == 92 and read["unpinned"] == 0
    assert document["database"]["records"] == 2661
    assert document["database"]["digest"].startswith("sha256:")
    assert list(document["policy"]) == ["violations", "unused_ignores"]
    finding = next(f for f in document["findings"] if f["package"] == "starlette")
    assert list(finding) == [
        "key",
        "kind",
        "advisory",
        "aliases",
        "package",
        "version",
        "lockfiles",
        "fixed_versions",
        "severity",
        "status",
        "ignore",
        "response",
    ]
    assert finding["version"] == "0.19.1" and finding["status"] == "active"
    assert finding["kind"] == "vulnerability" and finding["response"] is None
    assert finding["key"] == f"{finding['advisory']}/starlette"


def test_ignores_threshold_and_exit_codes(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    scan = scan_lnbits(tmp_path, synced_db, "json")
    _, out, _ = run(capsys, *scan)
    findings = json.loads(out)["findings"]
    ignores = ",\n".join(
        f'{{ id = "{f["aliases"][0] if f["aliases"] else f["advisory"]}", package = '
        f'"{f["package"]}", reason = "r", issue = "https://github.com/a/b/issues/1", '
        f"expires = 2099-01-01 }}"
        for f in findings
    )
    config = tmp_path / "deny.toml"
    config.write_text(f'[advisories]\nstale-db = "allow"\nignore = [\n{ignores}\n]\n')
    code, out, _ = run(capsys, *scan, "--config", str(config))
    document = json.loads(out)
    assert code == 0
    assert {f["status"] for f in document["findings"]} == {"ignored"}
    assert document["policy"] == {"violations": [], "unused_ignores": []}
    config.write_text(config.read_text().replace("2099-01-01", "2020-01-01"))
    code, out, _ = run(capsys, *scan, "--config", str(config))
    assert code == 1 and {f["status"] for f in json.loads(out)["findings"]} == {"ignore-expired"}
    config.write_text(
        '[advisories]\nstale-db = "deny"\nseverity-threshold = "critical"\n'
        'unknown-severity = "low"\n'
    )
    code, out, _ = run(capsys, *scan, "--config", str(config))
    violations = json.loads(out)["policy"]["violations"]
    assert code == 1 and [v["code"] for v in violations] == ["stale-db"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"deny.toml": '[advisories]\nignore = [{ id = "X", expires = "soon" }]\nfrob = 1\n'},
            r"deny\.toml: 2 problem\(s\).*advisories\.frob.*advisories\.ignore\[0\]\.expires",
        ),
        ({"poetry.lock": '{"package": []}'}, r"poetry\.lock: not valid TOML"),
        ({"uv.lock": 'version = 1\n[[package]\nname = "x"\n'}, r"uv\.lock: not valid TOML.*line 2"),
    ],
)
def test_bad_input_is_exit_2_with_file_and_place(
    capsys: pytest.CaptureFixture[str],
    synced_db: Path,
    tmp_path: Path,
    files: dict[str, str],
    expected: str,
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    code, out, err = run(
        capsys,
        "scan",
        str(tmp_path),
        "--db",
        str(synced_db),
        "--config",
        str(tmp_path / "deny.toml") if "deny.toml" in files else str(REPOSITORY / "deny.toml"),
    )
    assert code == 2 and out == ""
    assert re.search(expected, err, flags=re.S), err


def test_broken_database_is_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "t.db"
    bogus.write_bytes(b"\x00garbage" * 64)
    code, _, err = run(capsys, "db", "status", "--db", str(bogus))
    assert code == 3 and f"{bogus}: advisory database is unusable" in err


def test_broken_record_is_exit_2_and_database_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "records"
    source.mkdir()
    (source / "GHSA-1.json").write_text(
        json.dumps(
            {
                "id": "GHSA-1",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]}],
                    }
                ],
            }
        )
    )
    db = tmp_path / "t.db"
    code, _, err = run(capsys, "db", "sync", "--source", str(source), "--db", str(db))
    assert code == 2
    assert (
        "GHSA-1.json: affected[0].ranges[0].events: an ECOSYSTEM range needs an 'introduced'" in err
    )
    code, out, _ = run(capsys, "db", "status", "--db", str(db), "--format", "json")
    assert json.loads(out)["records"] == 0


def test_unreachable_named_source_is_exit_4(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "db",
        "sync",
        "--source",
        "http://127.0.0.1:9/all.zip",
        "--db",
        str(tmp_path / "t.db"),
    )
    assert code == 4 and "download failed" in err


@pytest.mark.parametrize(
    "name",
    sorted(
        p.relative_to(LOCKFILES).as_posix()
        for p in LOCKFILES.rglob("*")
        if p.is_file() and p.suffix != ".md"
    ),
)
def test_findings_are_really_in_the_lockfile(
    capsys: pytest.CaptureFixture[str], synced_db: Path, name: str
) -> None:
    code, out, _ = run(
        capsys,
        "scan",
        str(LOCKFILES),
        "--lockfile",
        str(LOCKFILES / name),
        "--db",
        str(synced_db),
        "--format",
        "json",
    )
    assert code in (0, 1)
    contents = read_lockfile(LOCKFILES / name, LOCKFILES)
    locked = {(p.name, p.version) for p in contents.packages}
    for finding in json.loads(out)["findings"]:
        assert (finding["package"], finding["version"]) in locked
        assert set(finding["lockfiles"]) <= {p.lockfile for p in contents.packages}


def test_markdown_and_text_state_the_data_age(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    for fmt in ("text", "markdown"):
        _, out, _ = run(capsys, *scan_lnbits(tmp_path, synced_db, fmt))
        assert "days old" in out and "starlette" in out


def test_python_dash_m_and_help_work_in_a_fresh_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "triage", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0 and "scan" in done.stdout
    shutil.rmtree(tmp_path / ".triage", ignore_errors=True)


def _sync_on_a_terminal(tmp_path: Path, extra_env: dict[str, str]) -> str:
    """Run `db sync` with stderr on a pseudo-terminal; return what the terminal received."""
    import os
    import pty

    from tests.conftest import ADVISORY_DB

    tmp_path.mkdir()
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm"} | extra_env
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage",
            "db",
            "sync",
            "--source",
            str(ADVISORY_DB / "vulns" / "django"),
        ],
        stderr=terminal,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    os.close(terminal)
    received = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    os.close(controller)
    assert done.returncode == 0
    return received.decode(errors="replace")


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    on_terminal = _sync_on_a_terminal(tmp_path / "a", {"TRIAGE_DB": str(tmp_path / "a.db")})
    assert "reading" in on_terminal and "━" in on_terminal
    in_ci = _sync_on_a_terminal(tmp_path / "b", {"CI": "true", "TRIAGE_DB": str(tmp_path / "b.db")})
    # In CI, no bar: one line per phase, saying what, how many and how long.
    assert "━" not in in_ci
    assert re.search(r"^reading .*: \d+/\d+ in \d+\.\d s\r?$", in_ci, re.MULTILINE), in_ci
    # TRIAGE_DB chose where the database went.
    assert (tmp_path / "a.db").is_file() and not (tmp_path / "a" / ".triage").exists()


def test_a_log_hears_of_a_phase_still_running_and_of_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a log, a phase that runs past two seconds says so once, then how it ended."""
    import time

    from triage.cli.progress import phase_lines

    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    said: list[str] = []
    with phase_lines(said.append, shortest=2.0) as update:
        update("provenance: project pages", 0, 40)
        now[0] += 1.0
        update("provenance: project pages", 10, 40)
        now[0] += 1.5
        update("provenance: project pages", 20, 40)
        update("provenance: project pages", 30, 40)
        now[0] += 0.5
        update("quick", 0, 1)
    assert said == [
        "provenance: project pages: 20/40 so far, still running",
        "provenance: project pages: 30/40 in 3.0 s",
    ]
