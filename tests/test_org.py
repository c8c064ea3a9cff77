"""`triage org audit` on an organisation of 200 repositories on the loopback GitHub, built from
the real lockfiles (tests/org_world.py), with the in-process engine: the same issues as
per-repository audits, a quiet second run, one repository changed, hostile and broken
repositories, a secondary limit met mid-run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests import org_world
from tests.browser import pixels_near, screenshot
from tests.conftest import NOW, REPOSITORY
from tests.github_git import Repo, blob_id
from tests.github_server import GitHubServer
from tests.http_stub import serve_get, silent_server
from tests.org_world import central, opened, org_audit
from triage.cli import main
from triage.core.rotation_report import CHART_COLOUR, HEADER_COLOUR

ORG = org_world.ORG


def test_first_run_matches_per_repository_audits_then_a_quiet_run_costs_one_request_each(
    org_first_run: org_world.FirstRun,
    org_github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, github = org_first_run, org_github
    report = first.report
    assert first.code == 2  # service-199 has no lockfile: reported, and the run does not pass
    assert report["listed"] == 200 and report["audited"] == 196
    assert report["skipped"] == {"archived": 2, "fork": 1}
    assert list(report["errors"]) == [f"{ORG}/service-199"]
    assert "no lockfile" in report["errors"][f"{ORG}/service-199"]
    total = sum(len(issues) for issues in first.expected.values())
    assert total == report["actions"]["opened"] > 100

    # The same trees audited one at a time from a checkout, into repositories of their own:
    # one repository of each set of identical files stands for all of them (79 sets: every
    # real lockfile, at the root and in a subfolder, under the central policy, their own,
    # and their own with a severity threshold), so every audited repository is compared.
    alike: dict[tuple[tuple[str, bytes], ...], list[Repo]] = {}
    for repo in first.repos:
        if not (repo.fork or repo.archived):
            files = tuple(sorted((p, d) for p, d in repo.files.items() if p != "README.md"))
            alike.setdefault(files, []).append(repo)
    solo_db = tmp_path / "solo.db"
    shutil.copy(first.template, solo_db)
    compared = 0
    for same in alike.values():
        repo = same[0]
        root = tmp_path / "checkout" / repo.full_name
        for path, data in repo.files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        own = root / "deny.toml"
        if not own.exists():
            own.write_bytes(org_world.policy(first.sources))
        solo = f"solo/{repo.full_name.split('/')[1]}"
        code = main(
            ["audit", str(root), "--db", str(solo_db), "--config", str(own), "--repo", solo]
        )
        capsys.readouterr()
        if repo.full_name in report["errors"]:
            assert code == 2  # no lockfile: the repository's own audit refuses it too
            continue
        assert code in (0, 1)
        for member in same:
            assert opened(github, solo) == first.expected[member.full_name], member.full_name
            compared += 1
    assert compared == report["audited"] == 196

    # Nothing changed: the listing's pages and one conditional request per repository, each
    # answered 304 (not charged); no issue listed, nothing written.
    db, config = first.copy_db(tmp_path), first.config
    before = len(github.state.requests)
    charged = github.budget.charged
    code, report = org_audit(config, db)
    requests = github.state.requests[before:]
    assert [r for r in requests if r[0] != "GET"] == []
    assert sorted(set(p.split("/git/")[1].split("/")[0] for _, p in requests if "/git/" in p)) == [
        "trees"
    ]
    assert len(requests) == 2 + 197  # two listing pages, one tree each (forks etc. not read)
    assert github.budget.charged - charged == 2
    assert report["unchanged_trees"] == 196 and report["reconciled"] == 0

    # One backlog across the repositories, keyed by repository.
    assert main(["queue", "--org", ORG, "--db", str(db), "--format", "json"]) == 0
    backlog = json.loads(capsys.readouterr().out)
    keys = [item["key"] for item in backlog["findings"]]
    assert len(keys) == report["findings"] and all(k.startswith(f"{ORG}/service-") for k in keys)
    assert main(["queue", "--db", str(db), "--format", "json"]) == 0  # this repository's own
    assert json.loads(capsys.readouterr().out)["findings"] == []

    # One repository changes its lockfile: only that blob is fetched.
    changed = next(r for r in first.repos if "uv.lock" in r.files)
    path = "uv.lock"
    changed.files[path] = changed.files[path] + b"\n"
    github.git.blob_reads.clear()
    org_audit(config, db)
    assert github.git.blob_reads == [(changed.full_name, blob_id(changed.files[path]))]


def test_one_backlog_across_the_organisation_queue_show_claim_and_stats(
    org_first_run: org_world.FirstRun,
    org_github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = org_first_run
    db = first.copy_db(tmp_path)
    code, report = org_audit(first.config, db)  # a second run: a second point in time

    def cli(*args: str) -> tuple[int, str]:
        code = main([*args, "--db", str(db)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return code, out + err

    # The queue: a repository column beside the key, within 80 columns.
    code, out = cli("queue", "--org", ORG)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["repository", "key", "severity"]
    assert max(len(line) for line in lines) <= 80, out
    assert f"{report['findings']} finding(s) to work" in out
    code, out = cli("queue", "--org", ORG, "--format", "json")
    findings = json.loads(out)["findings"]
    assert len(findings) == report["findings"]
    assert all(f["key"] == f"{f['repository']}:{f['advisory']}/{f['package']}" for f in findings)
    assert len({f["repository"] for f in findings}) > 50
    key, repository = findings[0]["key"], findings[0]["repository"]
    assert lines[1].split()[:2] == [repository.split("/")[1], key.split(":")[1]]

    # show and claim take the organisation's keys.
    code, out = cli("show", key, "--format", "json")
    shown = json.loads(out)
    assert code == 0 and shown["key"] == key and shown["repository"] == repository
    assert shown["triage"]["state"] == "new" and shown["advisories"]
    assert [c["event"] for c in shown["history"]] == ["first-seen"]
    code, out = cli("show", key)
    assert code == 0 and out.startswith(key) and f"on {repository}'s default branch" in out
    org_github.state.assignable.add("octocat")
    code, out = cli("claim", key, "--as", "octocat")
    issue = findings[0]["issue_url"].rsplit("/", 1)[1]
    assert code == 0 and f"assigned {repository}#{issue} to octocat" in out, out
    assert org_github.state.issues[repository][int(issue)]["assignees"] == [{"login": "octocat"}]
    code, out = cli("show", f"../{repository}:{key.split(':')[1]}")
    assert code == 2 and "is not a repository name" in out

    # stats --org: by repository, claimed counted, one point per run.
    code, out = cli("stats", "--org", ORG, "--format", "json")
    stats = json.loads(out)
    assert code == 0 and stats["org"] == ORG
    assert sum(stats["open"]["by_repository"].values()) == report["findings"]
    assert stats["open"]["by_state"]["claimed"] == 1
    assert [point["open"] for point in stats["open_over_time"]] == [report["findings"]] * 2
    code, out = cli("stats", "--org", ORG)
    assert code == 0 and "open by repository" in out and "more repositories" in out
    code, out = cli("stats", "--format", "json")  # this repository's own: none of those
    assert json.loads(out)["open"]["by_repository"] == {}
    assert json.loads(out)["open_over_time"] == []
    code, out = cli("stats", "--org", ORG, "--format", "html")
    page = tmp_path / "org-stats.html"
    page.write_text(out)
    assert f"findings of {ORG} as of" in out and 'id="by-repository"' in out
    image = screenshot(page, tmp_path)
    assert len(pixels_near(image, CHART_COLOUR)) > 500  # the chart of the two runs
    assert len(pixels_near(image, HEADER_COLOUR)) > 4 * 2000  # four tables' headings


def test_central_issues_live_in_one_repository_labelled_per_repository(
    github: GitHubServer, org_advisories: tuple[Path, Path], tmp_path: Path
) -> None:
    sources, template = org_advisories
    repos = org_world.build(github, sources, count=12)
    per_repo_db, central_db = tmp_path / "per-repo.db", tmp_path / "central.db"
    shutil.copy(template, per_repo_db)
    shutil.copy(template, central_db)
    org_audit(central(tmp_path / "per-repo", sources), per_repo_db)
    home = f"{ORG}/security"
    config = central(tmp_path, sources, f'\n[org]\nissues = "central:{home}"\n')
    code, report = org_audit(config, central_db)
    assert code == 2 and report["audited"] == 8  # service-011 has no lockfile

    # The per-repository run's issues, each titled by its repository and labelled with it.
    held = github.issues(home)
    assert len(held) == report["actions"]["opened"] > 0
    for repo in repos:
        name = repo.full_name.split("/")[1]
        mine = [i for i in held if f"repo:{name}" in {label["name"] for label in i["labels"]}]
        assert sorted(i["title"] for i in mine) == [
            f"[{repo.full_name}] {title}" for title, _, _ in opened(github, repo.full_name)
        ]
        assert all(
            {"security", "dependencies"} <= {label["name"] for label in i["labels"]} for i in mine
        )
        # Found again by a key naming the repository: never taken for another's same finding.
        assert all(f"<!-- triage:key={repo.full_name}:" in i["body"] for i in mine)

    # Nothing changed: nothing written. One repository's findings gone: its issues closed.
    before = len(github.writes())
    org_audit(config, central_db)
    assert len(github.writes()) == before
    fixed = next(r for r in repos if opened(github, r.full_name))
    fixed.files = {
        path: data for path, data in fixed.files.items() if path in ("README.md", "deny.toml")
    }
    fixed.files["requirements.txt"] = b"six==1.16.0\n"  # none of the advisories' packages
    code, report = org_audit(config, central_db)
    name = fixed.full_name.split("/")[1]
    states = {
        i["state"]
        for i in github.issues(home)
        if f"repo:{name}" in {label["name"] for label in i["labels"]}
    }
    assert states == {"closed"} and report["actions"]["closed"] > 0
    assert report["actions"]["opened"] == 0
    others = [i for i in github.issues(home) if i["state"] == "open"]
    assert len(others) == len(held) - report["actions"]["closed"]


def test_a_secondary_limit_mid_run_pauses_every_thread_together(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    sources, template = org_advisories
    org_world.build(github, sources, count=24)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    # After 10 requests GitHub refuses everything for a second (Retry-After: 1).
    github.budget.trip_secondary_after(10, 1.0)
    code, report = org_audit(central(tmp_path, sources), db)
    assert code == 2 and report["audited"] == 20
    assert list(report["errors"]) == [f"{ORG}/service-023"]  # no lockfile: not the limit
    # Refused: only the requests already in flight when the limit tripped (at most one per
    # thread); the pause then held every thread back until the window passed.
    assert 1 <= github.budget.refused <= 8
    assert report["refused"] == github.budget.refused


def test_a_secondary_limit_met_writing_issues_pauses_the_writer_on_the_readers_budget(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """Issue writes spend the budget the repositories were read on, and are counted with them:
    the first write is refused (Retry-After: 1), and nothing is sent until the pause is over."""
    sources, template = org_advisories
    repos = org_world.build(github, sources, count=24)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    github.budget.trip_secondary_on("POST", 1.0)
    code, report = org_audit(central(tmp_path, sources), db)
    assert code == 2 and report["audited"] == 20
    assert report["actions"]["opened"] > 0
    # One refusal (the write in flight); the writer waited, then every issue was opened once.
    assert github.budget.refused == report["refused"] == 1
    assert report["requests"] == len(github.state.requests)
    for repo in repos:
        titles = [i["title"] for i in github.issues(repo.full_name)]
        assert len(titles) == len(set(titles))
    assert sum(len(github.issues(r.full_name)) for r in repos) == report["actions"]["opened"]


def test_odd_and_hostile_repositories_are_reported_never_passed_or_written_out(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sources, template = org_advisories
    locked = b"urllib3==1.26.0\n"

    def repo(name: str, **given: Any) -> Repo:
        return github.git.add_repo(Repo(f"{ORG}/{name}", **given))

    repo("empty")  # no commit yet: GitHub answers 409
    repo("huge", files={"requirements.txt": locked}, truncated=True)
    # Its own bytes: a blob another repository holds is read once, by id, from either.
    repo(
        "lying",
        files={"requirements.txt": locked + b"# lying\n"},
        served_instead={"requirements.txt": b"urllib3==2.5.0\n"},
    )
    repo("escape", links={"requirements.txt": "../../../etc/passwd"})
    repo("broken-policy", files={"requirements.txt": locked, "deny.toml": b"[advisories\n"})
    repo("sandbox-tool", files={"requirements.txt": locked})
    repo("sneaky", files={"requirements.txt": locked, "trust-store/../../../pwned": b"x"})
    repo("own-policy", files={"requirements.txt": locked, "deny.toml": org_world.policy(sources)})
    repo("default-policy", files={"requirements.txt": locked})
    (tmp_path / "central").mkdir()
    (tmp_path / "central" / "org-default.toml").write_bytes(
        org_world.policy(sources, 'severity-threshold = "critical"')
    )
    config = central(
        tmp_path,
        sources,
        '\n[org]\nexclude = ["sandbox-*"]\ndefault-policy = "org-default.toml"\n',
    )
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    code, report = org_audit(config, db)

    # GitHub serving a blob that is not what the tree names is an upstream failure: exit 4.
    assert code == 4 and report["skipped"] == {"excluded by [org]": 1}
    errors = report["errors"]
    assert sorted(errors) == [
        f"{ORG}/{name}" for name in ("broken-policy", "empty", "escape", "huge", "lying")
    ]
    assert "the repository is empty" in errors[f"{ORG}/empty"]
    assert "truncated the tree listing" in errors[f"{ORG}/huge"]
    assert "does not match its id; refusing to read it" in errors[f"{ORG}/lying"]
    assert report["exit_codes"][f"{ORG}/lying"] == 4
    assert "not a file inside the tree" in errors[f"{ORG}/escape"]
    assert f"{ORG}/broken-policy@main:deny.toml" in errors[f"{ORG}/broken-policy"]
    # Unreadable repositories open no issue; the readable ones are judged by their policy:
    # their own (fails), the organisation's default (a critical threshold: passes).
    assert report["failing"] == [f"{ORG}/own-policy"] and report["reconciled"] == 3
    for name in ("empty", "huge", "lying", "escape", "broken-policy", "default-policy"):
        assert github.issues(f"{ORG}/{name}") == [], name
    # A name from a tree is never a name on disk.
    assert not any(Path(folder, "pwned").exists() for folder in (tmp_path, tempfile.gettempdir()))

    # A next-page link that leaves the API (a proxy rewriting it) is not followed.
    for n in range(101):  # past one page of the listing
        repo(f"more-{n:03d}", files={"requirements.txt": locked})
    github.link_origin = "http://127.0.0.2:9"
    code, said = org_audit(config, db, expect_report=False)
    assert code == 4 and "link to the next page of acme's repositories leaves" in said["message"]
    github.link_origin = None
    for n in range(101):
        del github.git.repos[f"{ORG}/more-{n:03d}"]

    # --full lists and reconciles every readable repository, changed or not.
    code, quiet = org_audit(config, db)
    assert quiet["reconciled"] == 0
    code, full = org_audit(config, db, "--full")
    assert full["reconciled"] == 3 and full["actions"]["opened"] == 0

    # As text: what was read, what fails, and every repository not read, by name.
    code = main(["org", "audit", "--org", ORG, "--db", str(db), "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 4 and "Traceback" not in err
    assert f"{ORG}: 9 repositories listed, 3 audited (3 unchanged)" in out, out
    assert f"  fails policy: {ORG}/own-policy" in out
    assert f"  not audited: {ORG}/empty: {ORG}/empty: the repository is empty" in out


def test_urls_in_a_repositorys_trust_store_make_the_auditor_fetch_nothing(
    github: GitHubServer, org_advisories: tuple[Path, Path], tmp_path: Path
) -> None:
    """A repository's content is never the operator's policy: its trust store naming
    `file://` and loopback URLs (audit mode imports) makes no request and opens no file; the
    repository is reported (SSRF, issue 21)."""
    sources, template = org_advisories
    audit_mode = org_world.policy(sources, '[trust]\nmode = "audit"')
    pin = "0" * 64
    with serve_get(lambda path: (200, b"[[audit]]\n")) as (url, asked):
        for name, target in (
            ("reads-files", "file:///etc/passwd"),
            ("asks-loopback", f"{url}/partner-audits.toml"),
            ("asks-metadata", "http://169.254.169.254/latest/meta-data/"),
        ):
            imports = f'[[import]]\nname = "x"\nurl = "{target}"\nsha256 = "{pin}"\n'
            files = {
                "requirements.txt": b"urllib3==1.26.0\n",
                "deny.toml": audit_mode,
                "trust-store/imports.toml": imports.encode(),
            }
            github.git.add_repo(Repo(f"{ORG}/{name}", files=files))
        db = tmp_path / "org.db"
        shutil.copy(template, db)
        code, report = org_audit(central(tmp_path, sources), db)
    assert asked == []  # not one request reached the loopback server
    assert code == 2 and sorted(report["errors"]) == [
        f"{ORG}/{name}" for name in ("asks-loopback", "asks-metadata", "reads-files")
    ]
    for message in report["errors"].values():
        assert "not fetched: in an organisation audit a repository's own trust store" in message
        assert "root:" not in message  # nothing of /etc/passwd, not even its digest
    for name in ("asks-loopback", "asks-metadata", "reads-files"):
        assert github.issues(f"{ORG}/{name}") == []


def test_a_worker_with_other_advisory_data_refuses_and_a_bad_org_name_is_a_message(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from triage import store
    from triage.github.session import LocalBudget
    from triage.service import org, org_task
    from triage.settings import Settings

    _, template = org_advisories
    settings = Settings.from_environment()
    advisories = store.Database(template, read_only=True)
    context = org_task.Context(
        org.reader_for(settings, LocalBudget()),
        advisories,
        "sha256:" + "0" * 64,  # what this worker's copy digests to
        store.Database(tmp_path / "cache.db"),
        settings,
    )
    task = org_task.RepoTask(
        f"{ORG}/x", "main", store.AdvisoryStore(advisories).content_digest(), NOW.isoformat()
    )
    outcome = org_task.run(task, context)
    assert outcome.exit_code == 2 and outcome.requests == 0
    assert outcome.error is not None and "judged with different data" in outcome.error

    for command in (["org", "audit"], ["queue"], ["stats"]):
        code = main([*command, "--org", "../acme", "--db", str(tmp_path / "o.db")])
        _, err = capsys.readouterr()
        assert code == 2 and "not a GitHub organisation name" in err and "Traceback" not in err


def test_schedule_runs_the_org_audit_on_its_cron_once_per_slot(
    github: GitHubServer, org_advisories: tuple[Path, Path], tmp_path: Path
) -> None:
    sources, template = org_advisories
    repos = org_world.build(github, sources, count=6)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    config = central(tmp_path, sources, '\n[schedule]\norg-audit = "0 6 * * *"\n')

    def schedule(until: str, *more: str) -> tuple[int, str]:
        """`triage schedule --org` in its own process until a log line holds `until`, then
        half a second more; then SIGTERM."""
        command = [sys.executable, "-m", "triage", "schedule", "--org", ORG, "--db", str(db)]
        process = subprocess.Popen(
            [*command, "--config", str(config), *more],
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPOSITORY,
        )
        assert process.stderr is not None
        lines = []
        deadline = time.monotonic() + 60
        for line in process.stderr:
            lines.append(line)
            if until in line:
                break
            assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        # Read on through the same file object: lines it has buffered already would be
        # lost to communicate(), which reads the pipe beneath it.
        rest = process.stderr.read()
        process.wait(timeout=60)
        return process.returncode, "".join(lines) + rest

    # No run yet: the latest 06:00 slot is caught up at start.
    code, log = schedule("org audit")
    assert code == 0 and "Traceback" not in log, log
    assert f"org audit run 1 of {ORG} for " in log and "2 repositories audited" in log, log
    assert f"{ORG}/service-005 not audited" in log  # no lockfile: said, every run
    assert sum(len(github.issues(r.full_name)) for r in repos) > 0
    opened_before = {r.full_name: opened(github, r.full_name) for r in repos}
    # Started again: the slot is done, nothing runs until the next 06:00.
    code, log = schedule("scheduler started", "--engine", "local")
    assert code == 0 and "org audit" not in log and "scheduler started" in log, log
    assert {r.full_name: opened(github, r.full_name) for r in repos} == opened_before

    config.write_text(config.read_text().replace('org-audit = "0 6 * * *"', ""))
    done = subprocess.run(
        [sys.executable, "-m", "triage", "schedule", "--org", ORG, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=False,
    )
    assert done.returncode == 2 and "schedule.org-audit: not set" in done.stderr


def test_an_index_that_never_answers_costs_the_org_audit_one_timeout(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight repositories whose locked files all want provenance, from an index that accepts
    connections and never answers: the first lookup's timeout ends lookups for the whole run,
    so one connection waits (not one per repository or per project), and every repository is
    judged with [trust] unsigned deciding."""
    sources, template = org_advisories
    for n in range(8):
        lock = (
            'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\n'
            f'name = "project-{n}"\nversion = "1.0"\nsdist = {{ name = "project_{n}-1.0.tar.gz", '
            f'url = "https://files.example/p{n}.tar.gz", hashes = {{ sha256 = "{n:064x}" }} }}\n'
        )
        github.git.add_repo(Repo(f"{ORG}/locked-{n}", files={"pylock.toml": lock.encode()}))
    config = central(tmp_path, sources, '[trust]\nmode = "basic"\nunsigned = "warn"\n')
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    monkeypatch.setenv("TRIAGE_INDEX_TIMEOUT", "0.5")
    with silent_server() as (url, accepted):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, report = org_audit(config, db)
    assert len(accepted) == 1, report
    assert code == 0 and report["audited"] == 8 and not report["errors"], report
