"""`--format sarif` (issue 13, SPEC §11): valid SARIF 2.1.0 for code scanning, with stable
fingerprints, lockfile lines and suppressed ignores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import LOCKFILES, SHARED_DATA
from tests.gitrepos import GitRepo
from triage.cli import main

SCHEMA = json.loads((SHARED_DATA / "sarif" / "sarif-schema-2.1.0.json").read_text())
FINGERPRINT = "triageFindingKey/v1"


def sarif(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, SCHEMA)
    return code, log


def by_key(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["partialFingerprints"][FINGERPRINT]: r for r in log["runs"][0]["results"]}


@pytest.mark.parametrize(
    ("lockfile", "name"),
    [
        ("CTFd__CTFd__requirements.txt", "requirements.txt"),
        ("getredash__redash__poetry.lock", "poetry.lock"),
        ("postmanlabs__httpbin__Pipfile.lock", "Pipfile.lock"),
        ("lnbits__lnbits__poetry.lock", "poetry.lock"),
    ],
)
def test_real_lockfiles_give_valid_sarif_located_at_the_pinning_line(
    synced_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lockfile: str,
    name: str,
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(LOCKFILES / lockfile, root / name)
    code, log = sarif(capsys, "scan", str(root), "--db", str(synced_db))
    run = log["runs"][0]
    results = run["results"]
    assert code == 1 and results, "each of these real lockfiles has findings"
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    lines = (root / name).read_text().splitlines()
    for result in results:
        rule = rules[result["ruleId"]]
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]] is rule
        assert "triage ignore" in rule["help"]["text"] and rule["shortDescription"]["text"]
        package = result["properties"]["package"]
        for location in result["locations"]:
            where = location["physicalLocation"]
            assert where["artifactLocation"]["uri"] == name
            pinned = lines[where["region"]["startLine"] - 1].lower()
            # The line names the package (requirements, Pipfile.lock) or opens its table,
            # whose next line does (uv, poetry, pylock).
            following = lines[where["region"]["startLine"]].lower()
            assert package in pinned.replace("_", "-") or package in following.replace("_", "-"), (
                package,
                pinned,
                following,
            )


def test_a_finding_keeps_its_fingerprint_when_the_lockfile_moves_and_the_version_bumps(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "project"
    (root / "deploy").mkdir(parents=True)
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")
    _, before = sarif(capsys, "scan", str(root), "--db", str(synced_db))
    (root / "requirements.txt").unlink()
    # Still inside the same advisories' ranges, two lines lower, in another folder.
    (root / "deploy" / "requirements.txt").write_text("# pins\n\nurllib3==2.0.4\n")
    _, after = sarif(capsys, "scan", str(root), "--db", str(synced_db))
    kept = by_key(before).keys() & by_key(after).keys()
    assert kept and kept == by_key(before).keys()
    for key in kept:
        moved = by_key(after)[key]["locations"][0]["physicalLocation"]
        assert moved == {
            "artifactLocation": {"uri": "deploy/requirements.txt"},
            "region": {"startLine": 3},
        }


def test_an_ignored_finding_is_a_suppressed_result_carrying_the_reason(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")
    _, first = sarif(capsys, "scan", str(root), "--db", str(synced_db))
    key = sorted(by_key(first))[0]
    advisory, package = key.split("/")
    (root / "deny.toml").write_text(
        "[[advisories.ignore]]\n"
        f'id = "{advisory}"\npackage = "{package}"\n'
        'reason = "the proxy strips the header"\n'
        'issue = "https://github.com/o/r/issues/7"\n'
    )
    _, log = sarif(
        capsys, "scan", str(root), "--db", str(synced_db), "--config", str(root / "deny.toml")
    )
    result = by_key(log)[key]
    assert result["level"] == "note"
    assert result["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "the proxy strips the header (https://github.com/o/r/issues/7)",
        }
    ]
    assert all("suppressions" not in r for k, r in by_key(log).items() if k != key)


def test_diff_sarif_marks_what_the_pull_request_introduces(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", requirements_dot_txt="urllib3==2.0.7\n")
    repo.branch("feature")
    repo.commit("pr", requirements_dot_txt="urllib3==2.0.7\npillow==9.0.0\n")
    code, log = sarif(capsys, "diff", str(repo.root), "--base", "main", "--db", str(synced_db))
    results = log["runs"][0]["results"]
    assert code == 1 and results
    assert {r["properties"]["new"] for r in results if r["properties"]["package"] == "pillow"} == {
        True
    }
    for result in results:
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] == (2 if result["properties"]["package"] == "pillow" else 1)
