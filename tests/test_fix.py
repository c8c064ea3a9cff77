"""`triage fix` (issue 25) against a loopback PEP 691/658 index serving generated wheels, with
real uv resolving: a direct and a transitive finding fixed in uv.lock (in place and relaxed),
in a compiled and a hand-pinned requirements file (hashes from the index), a conflict that
blocks every fix, a fix that would bring a new advisory, a yanked target, and the locks of
other tools, which get their own command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import workspace
from tests.github_server import GitHubServer
from tests.schemas import validate
from tests.test_fail_closed import triage
from tests.wheel_index import Release, WheelIndex, serve_wheels
from triage.service import sync

RELEASES = [
    Release("alpha", "1.0.0"),
    Release("alpha", "1.1.0"),  # still affected
    Release("alpha", "1.2.0", yanked="broken build"),  # the first fixed release: yanked
    Release("alpha", "1.3.0"),
    Release("alpha", "2.0.0"),
    Release("gamma", "1.0.0", requires=["delta>=1"]),
    Release("gamma", "1.1.0", requires=["delta>=2"]),  # fixed, but needs an affected delta
    Release("gamma", "1.2.0", requires=["delta>=1"]),
    Release("delta", "1.0.0"),
    Release("delta", "2.0.0"),
    Release("zeta", "1.0.0", requires=["epsilon<2"]),
    Release("zeta", "1.1.0", requires=["epsilon>=2"]),
    Release("epsilon", "1.0.0"),
    Release("epsilon", "2.0.0"),
    Release("kappa", "1.0.0", requires=["iota<2"]),
    Release("iota", "1.0.0"),
    Release("iota", "2.0.0"),
    Release("evil", "1.0.0"),
    Release("evil", "1.1.0"),
    Release("theta", "1.0.0"),
    Release("theta", "1.1.0", sdist_only=True),  # the only fix: a source distribution
]


# A poetry.lock locking alpha 1.0.0, as poetry 1.x writes one.
POETRY_LOCK = (
    '[[package]]\nname = "alpha"\nversion = "1.0.0"\ndescription = ""\noptional = false\n'
    'python-versions = "*"\nfiles = []\n\n[metadata]\nlock-version = "2.0"\n'
    'python-versions = "^3.11"\ncontent-hash = "0"\n'
)


def _record(ident: str, package: str, events: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": ident,
        "modified": "2026-11-01T00:00:00Z",
        "summary": f"a flaw in {package}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        "database_specific": {"severity": "HIGH"},
    }


ADVISORIES = [
    _record("GHSA-aaaa-aaaa-aaaa", "alpha", [{"introduced": "0"}, {"fixed": "1.2.0"}]),
    _record("GHSA-gggg-gggg-gggg", "gamma", [{"introduced": "0"}, {"fixed": "1.1.0"}]),
    _record("GHSA-dddd-dddd-dddd", "delta", [{"introduced": "2.0.0"}]),
    _record("GHSA-eeee-eeee-eeee", "epsilon", [{"introduced": "0"}, {"fixed": "2.0.0"}]),
    _record("GHSA-iiii-iiii-iiii", "iota", [{"introduced": "0"}, {"fixed": "2.0.0"}]),
    _record("MAL-2026-1", "evil", [{"introduced": "0"}]),
    _record("GHSA-tttt-tttt-tttt", "theta", [{"introduced": "0"}, {"fixed": "1.1.0"}]),
]


@pytest.fixture(scope="module")
def index() -> Iterator[tuple[str, WheelIndex]]:
    with serve_wheels(RELEASES) as served:
        yield served


@pytest.fixture(scope="module")
def advisories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("advisories")
    for record in ADVISORIES:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    db = tmp_path_factory.mktemp("fixdb") / "t.db"
    sync.sync(workspace(db), [str(folder)], require_all=True)
    return db


@pytest.fixture
def world(
    index: tuple[str, WheelIndex], advisories: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path]:
    """The index's URL and a database of the advisories, copied for this test (fix keeps uv's
    cache and the index's pages beside it)."""
    db = tmp_path / "db" / "t.db"
    db.parent.mkdir()
    db.write_bytes(advisories.read_bytes())
    monkeypatch.setenv("TRIAGE_PYPI_URL", index[0])
    return index[0], db


@pytest.fixture
def app(world: tuple[str, Path], tmp_path: Path) -> Path:
    """A project depending on alpha, locked at the affected 1.0.0."""
    return project(tmp_path / "app", world[0], ["alpha"], ["alpha==1.0.0"])


def uv(folder: Path, url: str, *arguments: str) -> None:
    """uv as a user ran it to make the lock being fixed."""
    from uv import find_uv_bin

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "UV_CACHE_DIR": str(folder.parent / "uv-cache-user"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    subprocess.run(
        [find_uv_bin(), *arguments, "--no-config", "-q", "--default-index", f"{url}/simple"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )


def project(folder: Path, url: str, dependencies: list[str], pins: list[str]) -> Path:
    folder.mkdir()
    listed = "".join(f'    "{d}",\n' for d in dependencies)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f"dependencies = [\n{listed}]  # kept\n"
    )
    uv(folder, url, "lock", *(a for p in pins for a in ("--upgrade-package", p)))
    return folder


def locked(folder: Path) -> dict[str, str]:
    import tomllib

    document = tomllib.loads((folder / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in document["package"] if p["name"] != "demo"}


def fix(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = triage(capsys, "fix", *argv, "--db", str(db), "--format", "json")
    assert code in (0, 1), err
    document = json.loads(out)
    validate(document)
    return code, document


def by_package(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["package"]: p for p in document["plans"]}


def test_uv_lock_in_place_skips_yanked_and_plans_that_bring_an_advisory(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url, db = world
    folder = project(
        tmp_path / "app",
        url,
        ["alpha", "gamma", "zeta"],
        ["alpha==1.0.0", "gamma==1.0.0", "zeta==1.0.0", "delta==1.0.0"],
    )
    before = (folder / "uv.lock").read_bytes()

    code, planned = fix(capsys, db, str(folder))
    assert code == 0 and planned["findings"] == planned["fixed"] == 3
    assert (folder / "uv.lock").read_bytes() == before  # planning writes nothing
    plans = by_package(planned)
    # 1.1.0 is still affected, 1.2.0 (the first fixed) is yanked: 1.3.0, never 2.0.0.
    assert plans["alpha"]["to"] == "1.3.0" and plans["alpha"]["skipped"] == ["1.2.0"]
    # gamma 1.1.0 fixes gamma but needs delta 2.0.0, which brings GHSA-dddd: 1.2.0 instead.
    assert plans["gamma"]["to"] == "1.2.0"
    assert {m["package"] for m in plans["gamma"]["moves"]} == {"gamma"}
    # epsilon is transitive: its parent zeta must move for it to.
    assert plans["epsilon"]["direct"] is False and plans["epsilon"]["major"] is True
    assert plans["epsilon"]["parent"] == "zeta 1.0.0 -> 1.1.0"
    assert all(p["state"] == "ready" and p["brings"] == [] for p in planned["plans"])

    monkeypatch.setenv("CI", "true")  # a log: one line per phase, however short
    code, out, err = triage(capsys, "fix", str(folder), "--apply", "--db", str(db), "--format",
                            "json")  # fmt: skip
    applied = json.loads(out)
    assert "fix: plans: 3/3 in " in err
    assert code == 0 and applied["fixed"] == 3
    assert (
        applied["rescan"]
        == "re-scan: 3 finding(s) gone from the lockfiles fixed, none new; 0 still failing"
    )
    assert locked(folder) == {
        "alpha": "1.3.0",
        "gamma": "1.2.0",
        "delta": "1.0.0",
        "zeta": "1.1.0",
        "epsilon": "2.0.0",
    }
    code, _, _ = triage(capsys, "scan", str(folder), "--db", str(db), "-q")
    assert code == 0


def test_a_pin_in_the_manifest_is_widened_only_with_relax(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = project(tmp_path / "app", url, ["alpha==1.0.0"], [])
    manifest = (folder / "pyproject.toml").read_text()

    code, in_place = fix(capsys, db, str(folder), "--apply")
    plan = by_package(in_place)["alpha"]
    assert code == 1 and plan["state"] == "blocked"
    assert "--strategy relax widens it" in plan["reason"]
    assert "depends on alpha==1.0.0" in plan["reason"]  # uv's own explanation
    assert (folder / "pyproject.toml").read_text() == manifest

    code, relaxed = fix(capsys, db, str(folder), "--apply", "--strategy", "relax")
    plan = by_package(relaxed)["alpha"]
    assert code == 0 and plan["state"] == "applied" and plan["strategy"] == "relax"
    assert (folder / "pyproject.toml").read_text() == manifest.replace(
        '"alpha==1.0.0"', '"alpha==1.3.0"'
    )
    assert locked(folder) == {"alpha": "1.3.0"}


def test_a_conflict_that_blocks_every_fix_is_explained_and_nothing_is_written(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = project(tmp_path / "app", url, ["kappa==1.0.0", "iota"], [])
    files = {n: (folder / n).read_bytes() for n in ("pyproject.toml", "uv.lock")}

    code, out, _ = triage(
        capsys, "fix", str(folder), "--apply", "--strategy", "relax", "--db", str(db)
    )
    assert code == 1
    assert out.startswith("triage fix: 1 active finding(s), 0 applied\nBLOCKED     iota 1.0.0")
    assert "all versions of kappa depend on iota<2" in " ".join(out.split())
    assert {n: (folder / n).read_bytes() for n in files} == files
    assert all(len(line) <= 80 for line in out.splitlines())


def test_a_hand_pinned_file_gets_the_pin_and_its_hashes_from_the_index(
    world: tuple[str, Path], index: tuple[str, WheelIndex], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, db = world
    served = index[1]
    folder = tmp_path / "app"
    folder.mkdir()
    text = (
        "# pinned by hand\n"
        f"alpha==1.0.0 \\\n    --hash=sha256:{served.digest('alpha', '1.0.0')}\n"
        f"gamma==1.0.0 --hash=sha256:{served.digest('gamma', '1.0.0')}  # reviewed\n"
        f"delta==1.0.0 \\\n    --hash=sha256:{served.digest('delta', '1.0.0')}\n"
    )
    (folder / "requirements.txt").write_text(text)

    code, applied = fix(capsys, db, str(folder), "--apply")
    assert code == 0 and applied["fixed"] == 2
    assert (folder / "requirements.txt").read_text() == (
        "# pinned by hand\n"
        f"alpha==1.3.0 \\\n    --hash=sha256:{served.digest('alpha', '1.3.0')}\n"
        f"gamma==1.2.0 --hash=sha256:{served.digest('gamma', '1.2.0')}  # reviewed\n"
        f"delta==1.0.0 \\\n    --hash=sha256:{served.digest('delta', '1.0.0')}\n"
    )


def test_a_compiled_file_is_recompiled_from_its_input_under_its_own_header(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "requirements.in").write_text("alpha\ngamma\n")
    header = "uv pip compile requirements.in -o requirements.txt --generate-hashes"
    uv(
        folder, url, "pip", "compile", "requirements.in", "-o", "requirements.txt",
        "--generate-hashes", "--custom-compile-command", header,
        "--upgrade-package", "alpha==1.0.0", "--upgrade-package", "gamma==1.0.0",
        "--upgrade-package", "delta==1.0.0",
    )  # fmt: skip
    before = (folder / "requirements.txt").read_text()

    code, applied = fix(capsys, db, str(folder), "--apply")
    after = (folder / "requirements.txt").read_text()
    assert code == 0, applied
    assert after.splitlines()[:2] == before.splitlines()[:2]  # the header names the user's command
    assert header in after
    assert "alpha==1.3.0 \\\n    --hash=sha256:" in after and "gamma==1.2.0" in after
    assert "delta==1.0.0" in after


def test_other_tools_locks_get_the_plan_and_their_own_command(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "poetry.lock").write_text(POETRY_LOCK)
    before = (folder / "poetry.lock").read_bytes()
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual" and plan["to"] == "1.3.0"
    assert plan["command"] == "poetry add 'alpha>=1.3.0'"
    assert (folder / "poetry.lock").read_bytes() == before


def test_offline_plans_from_the_pages_kept_and_says_what_it_could_not_ask(
    world: tuple[str, Path], app: Path, index: tuple[str, WheelIndex], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, db = world
    folder = app
    code, cold = fix(capsys, db, str(folder), "--offline")
    assert code == 1 and by_package(cold)["alpha"]["state"] == "blocked"
    assert "the index's releases are unknown" in by_package(cold)["alpha"]["reason"]
    assert cold["not_checked"].startswith("offline")

    fix(capsys, db, str(folder))  # online: the page and uv's cache are kept
    asked = len(index[1].asked)
    code, warm = fix(capsys, db, str(folder), "--offline")
    assert code == 0 and by_package(warm)["alpha"]["to"] == "1.3.0"
    assert warm["not_checked"].startswith("offline")
    assert len(index[1].asked) == asked  # neither triage nor uv asked the index


def test_a_key_that_names_no_active_finding_is_bad_input(
    world: tuple[str, Path], app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = app
    code, out, err = triage(capsys, "fix", str(folder), "GHSA-zzzz-zzzz-zzzz", "--db", str(db))
    assert code == 2 and not out
    assert "GHSA-zzzz-zzzz-zzzz: no active finding has this key or advisory id" in err
    code, planned = fix(capsys, db, str(folder), "GHSA-aaaa-aaaa-aaaa/alpha")
    assert code == 0 and [p["package"] for p in planned["plans"]] == ["alpha"]


def test_pr_opens_one_pull_request_per_package_updates_it_and_supersedes_it(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    github: GitHubServer,
) -> None:  # fmt: skip
    url, db = world
    pins = ["alpha==1.0.0", "gamma==1.0.0", "delta==1.0.0"]
    folder = project(tmp_path / "app", url, ["alpha", "gamma"], pins)
    (folder / "deny.toml").write_text('[github]\nrepository = "acme/app"\n')
    code, _, err = triage(capsys, "audit", str(folder), "--db", str(db))  # tracking issues
    assert code == 1, err
    tracking = {i["title"].split(":")[0]: i["number"] for i in github.issues("acme/app")}
    lock = (folder / "uv.lock").read_bytes()

    code, first = fix(capsys, db, str(folder), "--pr")
    assert code == 0, first
    assert {p["group"]: p["action"] for p in first["pulls"]} == {
        "alpha": "created",
        "gamma": "created",
    }
    assert (folder / "uv.lock").read_bytes() == lock  # nothing written here
    pulls = {p["title"]: p for p in github.pulls.open_pulls("acme/app")}
    assert set(pulls) == {"triage fix: upgrade alpha 1.3.0", "triage fix: upgrade gamma 1.2.0"}
    alpha = pulls["triage fix: upgrade alpha 1.3.0"]
    assert f"Fixes #{tracking['GHSA-aaaa-aaaa-aaaa']}" in alpha["body"]
    assert "| `GHSA-aaaa-aaaa-aaaa/alpha` | `GHSA-aaaa-aaaa-aaaa` | high |" in alpha["body"]
    committed = github.pulls.files_at("acme/app", alpha["head"]["ref"])
    assert list(committed) == ["uv.lock"]
    assert 'name = "alpha"\nversion = "1.3.0"' in committed["uv.lock"].decode()
    assert 'name = "gamma"\nversion = "1.0.0"' in committed["uv.lock"].decode()  # one package each

    code, out, _ = triage(
        capsys,
        "show",
        "GHSA-aaaa-aaaa-aaaa/alpha",
        str(folder),
        "--db",
        str(db),
        "--format",
        "json",
    )
    shown = json.loads(out)
    validate(shown)
    assert shown["fix"]["plan"] == "alpha 1.0.0 -> 1.3.0 (uv.lock, in-place)"
    assert (shown["fix"]["state"], shown["fix"]["pull_request"]) == ("ready", alpha["html_url"])

    code, again = fix(capsys, db, str(folder), "--pr")
    assert {p["action"] for p in again["pulls"]} == {"unchanged"}
    assert len(github.pulls.open_pulls("acme/app")) == 2

    # main moves on (a README lands): the same plans are rebuilt on it, in place.
    objects = github.pulls.objects("acme/app")
    readme = github.pulls.route(
        "POST", "/repos/acme/app/git/blobs", {}, {"content": "hello", "encoding": "utf-8"}
    )
    assert readme is not None
    main = objects.commits[objects.refs["heads/main"]]
    tree = github.pulls.route(
        "POST", "/repos/acme/app/git/trees", {},
        {"base_tree": main["tree"]["sha"],
         "tree": [{"path": "README.md", "sha": readme[1]["sha"]}]},
    )  # fmt: skip
    assert tree is not None
    moved = github.pulls.route(
        "POST", "/repos/acme/app/git/commits", {},
        {"message": "readme", "tree": tree[1]["sha"], "parents": [main["sha"]]},
    )  # fmt: skip
    assert moved is not None
    objects.refs["heads/main"] = moved[1]["sha"]
    code, rebuilt = fix(capsys, db, str(folder), "--pr")
    assert {p["action"] for p in rebuilt["pulls"]} == {"updated"}
    assert set(github.pulls.files_at("acme/app", alpha["head"]["ref"])) == {"README.md", "uv.lock"}
    assert objects.commits[alpha["head"]["sha"]]["parents"][0]["sha"] == moved[1]["sha"]

    # alpha 1.3.0 gets an advisory of its own: the newer plan (2.0.0) supersedes the first.
    records = tmp_path / "newer"
    records.mkdir()
    (records / "GHSA-bbbb-bbbb-bbbb.json").write_text(
        json.dumps(_record("GHSA-bbbb-bbbb-bbbb", "alpha", [{"introduced": "1.3.0"},
                                                             {"fixed": "2.0.0"}]))
    )  # fmt: skip
    sync.sync(workspace(db), [str(records)])
    code, newer = fix(capsys, db, str(folder), "--pr", "GHSA-aaaa-aaaa-aaaa/alpha")
    note = by_group(newer)["alpha"]
    assert note["action"] == "created" and note["superseded"] == [alpha["number"]]
    assert alpha["state"] == "closed"
    assert any(
        "Superseded by" in c["body"] for c in github.comments_on("acme/app", alpha["number"])
    )
    titles = {p["title"] for p in github.pulls.open_pulls("acme/app")}
    assert titles == {"triage fix: upgrade alpha 2.0.0", "triage fix: upgrade gamma 1.2.0"}


def by_group(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["group"]: p for p in document["pulls"]}


def test_a_pull_request_someone_else_opened_with_the_marker_is_never_touched(
    world: tuple[str, Path], app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    github: GitHubServer,
) -> None:  # fmt: skip
    _, db = world
    folder = app
    (folder / "deny.toml").write_text('[github]\nrepository = "acme/app"\n')
    _, first = fix(capsys, db, str(folder), "--pr")
    mine = github.pulls.open_pulls("acme/app")[0]
    mine["user"] = {**mine["user"], "login": "mallory"}  # now it is someone else's
    body, head = mine["body"], dict(mine["head"])
    _, second = fix(capsys, db, str(folder), "--pr")
    note = by_group(second)["alpha"]
    assert note["action"] == "created" and note["number"] != mine["number"]
    assert note["superseded"] == []  # mallory's is not triage's to close
    assert (mine["state"], mine["body"], mine["head"]) == ("open", body, head)
    assert first["pulls"][0]["number"] == mine["number"]


def test_the_daily_audit_opens_fix_pull_requests_at_or_above_fix_severity(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    github: GitHubServer,
) -> None:  # fmt: skip
    url, db = world
    pins = ["alpha==1.0.0", "gamma==1.0.0", "delta==1.0.0"]
    folder = project(tmp_path / "app", url, ["alpha", "gamma"], pins)
    (folder / "deny.toml").write_text(
        '[github]\nrepository = "acme/app"\n[fix]\nopen-prs = true\nseverity = "high"\n'
        'group = "finding"\n'
    )
    code, _, err = triage(capsys, "audit", str(folder), "--db", str(db))
    assert code == 1  # the findings still fail the audit: a proposal is not a fix
    assert "fix pull request for GHSA-aaaa-aaaa-aaaa/alpha: created #" in err
    assert "fix pull request for GHSA-gggg-gggg-gggg/gamma: created #" in err
    bodies = [p["body"] for p in github.pulls.open_pulls("acme/app")]
    assert len(bodies) == 2 and all("Fixes #" in b for b in bodies)  # the issues just opened

    (folder / "deny.toml").write_text(
        '[github]\nrepository = "acme/app"\n[fix]\nopen-prs = true\nseverity = "critical"\n'
    )
    code, _, err = triage(capsys, "audit", str(folder), "--db", str(db))
    assert "fix pull request" not in err  # high findings are below [fix] severity now


def test_malware_is_never_upgraded(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = project(tmp_path / "app", url, ["evil"], ["evil==1.0.0"])
    lock = (folder / "uv.lock").read_bytes()
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["evil"]
    assert code == 1 and plan["state"] == "blocked" and plan["to"] is None
    assert plan["reason"].startswith("malware: remove evil (do not upgrade it)")
    assert (folder / "uv.lock").read_bytes() == lock


def test_a_project_naming_its_own_index_or_urls_gets_the_command_and_nothing_is_fetched(
    world: tuple[str, Path], app: Path, index: tuple[str, WheelIndex], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, db = world
    folder = app
    with (folder / "pyproject.toml").open("a") as manifest:
        manifest.write('[[tool.uv.index]]\nurl = "http://127.0.0.1:9/simple"\n')
    code, planned = fix(capsys, db, str(folder))
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual"
    assert plan["reason"] == "its pyproject.toml sets [tool.uv] index: run uv yourself"
    assert plan["command"] == "uv lock --upgrade-package alpha==1.3.0"

    compiled = tmp_path / "compiled"
    compiled.mkdir()
    (compiled / "requirements.in").write_text("alpha\n-r more.in\n")
    (compiled / "more.in").write_text("# from a fork\ngit+http://127.0.0.1:9/x.git#egg=x\n")
    (compiled / "requirements.txt").write_text(
        "# This file was autogenerated by uv via the following command:\n"
        "#    uv pip compile requirements.in -o requirements.txt\nalpha==1.0.0\n"
    )
    asked = len(index[1].asked)
    code, planned = fix(capsys, db, str(compiled), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual"
    assert plan["reason"].startswith("its input more.in names an index, a URL, a path")
    assert plan["command"] == (
        "uv pip compile requirements.in -o requirements.txt --upgrade-package alpha==1.3.0"
    )
    assert index[1].asked[asked:] == []  # the page kept from the run above; nothing for uv


def test_a_finding_in_two_lockfiles_is_fixed_where_triage_can_and_the_other_keeps_its_command(
    world: tuple[str, Path], app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = app
    (folder / "poetry.lock").write_text(POETRY_LOCK)
    code, applied = fix(capsys, db, str(folder), "--apply")
    states = {p["lockfile"]: p["state"] for p in applied["plans"]}
    assert states == {"uv.lock": "applied", "poetry.lock": "manual"}
    assert code == 1 and applied["fixed"] == 0  # the finding stays in poetry.lock
    assert (
        applied["rescan"]
        == "re-scan: 1 finding(s) gone from the lockfiles fixed, none new; 1 still failing"
    )
    assert locked(folder) == {"alpha": "1.3.0"}


def test_a_file_exported_from_uv_lock_gets_the_lock_then_the_export(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = tmp_path / "app"
    folder.mkdir()
    export = "uv export --frozen --format requirements-txt -o requirements.txt"
    (folder / "requirements.txt").write_text(
        f"# This file was autogenerated by uv via the following command:\n#    {export}\n"
        "alpha==1.0.0\n"
    )
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual"
    assert plan["reason"] == "it is exported from uv.lock: lock and export it again"
    assert plan["command"] == f"uv lock --upgrade-package alpha==1.3.0 && {export}"


def test_a_resolution_uv_cannot_run_here_is_said_once_not_blamed_on_the_releases(
    world: tuple[str, Path], app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = app
    manifest = folder / "pyproject.toml"
    manifest.write_text(manifest.read_text().replace('">=3.11"', '">=3.99"'))
    code, planned = fix(capsys, db, str(folder))
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "blocked"
    assert plan["reason"].startswith("uv could not resolve here: ")
    assert "3.99" in plan["reason"]


def test_a_project_requiring_a_url_or_locking_from_git_is_never_re_locked_by_triage(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = project(tmp_path / "url", url, ["alpha"], ["alpha==1.0.0"])
    with (folder / "pyproject.toml").open("a") as manifest:
        manifest.write(
            '[tool.uv]\noverride-dependencies = ["gamma @ http://127.0.0.1:9/gamma-9.whl"]\n'
        )
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual"
    assert plan["reason"] == "its pyproject.toml requires gamma from a URL: run uv yourself"

    folder = project(tmp_path / "git", url, ["alpha"], ["alpha==1.0.0"])
    with (folder / "uv.lock").open("a") as lock:
        lock.write(
            '\n[[package]]\nname = "zeta"\nversion = "1.0.0"\n'
            'source = { git = "http://127.0.0.1:9/zeta.git#abc" }\n'
        )
    before = (folder / "uv.lock").read_bytes()
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual"
    assert plan["reason"].startswith("it locks zeta from a URL, git or a path")
    assert (folder / "uv.lock").read_bytes() == before


def test_a_hand_pinned_file_naming_its_own_index_is_left_to_its_owner(
    world: tuple[str, Path], index: tuple[str, WheelIndex], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, db = world
    folder = tmp_path / "app"
    folder.mkdir()
    digest = index[1].digest("alpha", "1.0.0")
    text = f"--index-url http://127.0.0.1:9/simple\nalpha==1.0.0 --hash=sha256:{digest}\n"
    (folder / "requirements.txt").write_text(text)
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "manual" and plan["to"] == "1.3.0"
    assert plan["reason"].startswith("it names its own index")
    assert (folder / "requirements.txt").read_text() == text


def test_a_manifest_that_is_not_utf8_blocks_its_plan_not_the_run(
    world: tuple[str, Path], app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = world
    folder = app
    manifest = folder / "pyproject.toml"
    manifest.write_bytes(manifest.read_bytes() + b"# caf\xe9\n")  # latin-1, as an editor left it
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["alpha"]
    assert code == 1 and plan["state"] == "blocked"
    assert plan["reason"].startswith(f"not planned: {manifest}: cannot be read to edit it")


def test_a_fix_that_needs_a_build_is_said_and_never_applied(
    world: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = world
    folder = project(tmp_path / "app", url, ["theta"], ["theta==1.0.0"])
    lock = (folder / "uv.lock").read_bytes()
    code, planned = fix(capsys, db, str(folder), "--apply")
    plan = by_package(planned)["theta"]
    assert code == 1 and plan["state"] == "blocked" and plan["to"] == "1.1.0"
    assert plan["reason"] == (
        "uv would have to build a source distribution to resolve theta==1.1.0: "
        "not planned automatically"
    )
    assert (folder / "uv.lock").read_bytes() == lock


def test_a_slow_resolution_says_it_is_still_running(
    world: tuple[str, Path], app: Path, index: tuple[str, WheelIndex],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """uv asking a slow index: the log says the plans phase is still running while uv works,
    not only once the plan is made."""
    from triage.cli import progress

    _, db = world
    fix(capsys, db, str(app))  # triage keeps the page now: what is slow below is uv's asking
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(progress, "STILL_RUNNING", 0.5)
    slow = index[1].slow
    slow["/simple/alpha/"] = slow["/files/alpha-1.3.0-py3-none-any.whl.metadata"] = 1.5
    try:
        code, out, err = triage(capsys, "fix", str(app), "--db", str(db), "--format", "json")
    finally:
        slow.clear()
    assert code == 0 and json.loads(out)["fixed"] == 1
    assert "fix: plans: 0/1 so far, still running" in err
