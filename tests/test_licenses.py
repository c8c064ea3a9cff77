"""`triage licenses check` (issue 14, SPEC §12) on real PyPI license metadata
(tests/fixtures/pypi-licenses, read from the releases' own wheels), served by a loopback
PyPI."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPOSITORY
from tests.gitrepos import GitRepo
from tests.http_stub import serve_get
from triage.cli import main

FIXTURES = REPOSITORY / "tests" / "fixtures" / "pypi-licenses"
RELEASES = {  # one version of each package (cryptography's older one is for the diff)
    json.loads(p.read_text())["info"]["name"].lower(): json.loads(p.read_text())["info"]["version"]
    for p in sorted(FIXTURES.glob("*.json"))
    if p.name != "cryptography-3.4.8.json"
}
ALLOW = '["MIT", "BSD-3-Clause", "Apache-2.0", "ISC", "Unlicense"]'


def answer(path: str) -> tuple[int, bytes]:
    found = re.fullmatch(r"/pypi/([^/]+)/([^/]+)/json", path)
    if found:
        fixture = FIXTURES / f"{found[1]}-{found[2]}.json"
        if fixture.is_file():
            return 200, fixture.read_bytes()
    return 404, b'{"message": "Not Found"}'


@pytest.fixture(autouse=True)
def database(synced_db: Path, tmp_path: Path) -> None:
    """t.db starts as the synced advisory database: a diff or SBOM need not load the snapshot."""
    shutil.copy(synced_db, tmp_path / "t.db")


@pytest.fixture
def pypi(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    with serve_get(answer) as (url, asked):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        yield asked


def project(tmp_path: Path, licenses: str, pins: dict[str, str] = RELEASES) -> Path:
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    (root / "deny.toml").write_text(f"[licenses]\n{licenses}")
    return root


ERRORS: list[str] = []


def check(
    capsys: pytest.CaptureFixture[str], root: Path, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON report; stderr is kept in ERRORS[-1]."""
    code = main(
        [
            "licenses",
            "check",
            str(root),
            "--db",
            str(tmp_path / "t.db"),
            "--config",
            str(root / "deny.toml"),
            "--format",
            "json",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    ERRORS.append(captured.err)
    return code, json.loads(captured.out) if captured.out.strip() else {}


def verdicts(document: dict[str, Any]) -> dict[str, tuple[str, str | None, str | None]]:
    return {p["name"]: (p["verdict"], p["expression"], p["source"]) for p in document["packages"]}


def test_real_metadata_read_by_precedence_and_judged(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = check(capsys, project(tmp_path, f"allow = {ALLOW}\n"), tmp_path)
    assert document["schema"] == "triage/licenses-v1"
    assert verdicts(document) == {
        # PEP 639 License-Expression
        "attrs": ("allowed", "MIT", "license-expression"),
        "click": ("allowed", "BSD-3-Clause", "license-expression"),
        "filelock": ("allowed", "Unlicense", "license-expression"),
        # an SPDX License field; a dual OR license
        "requests": ("allowed", "Apache-2.0", "license"),
        "pycparser": ("allowed", "BSD-3-Clause", "license"),
        "cryptography": ("allowed", "Apache-2.0 OR BSD-3-Clause", "license"),
        # classifiers only, or a free-text field with classifiers that name one license
        "urllib3": ("allowed", "MIT", "classifiers"),
        "ptyprocess": ("allowed", "ISC", "classifiers"),
        "sortedcontainers": ("allowed", "Apache-2.0", "classifiers"),
        "chardet": ("not-allowed", "LGPL-2.0-or-later", "classifiers"),
        # free text, or a classifier naming no one license ("BSD License"): unknown
        "idna": ("unknown", None, "classifiers"),
        "packaging": ("unknown", None, "classifiers"),
        "ply": ("unknown", None, "license"),
        "markupsafe": ("unknown", None, "license"),
        "python-dateutil": ("unknown", None, "license"),
        # nothing at all: no License-Expression, no License, no license classifier
        "namex": ("unlicensed", None, "none"),
    }
    raw = {p["name"]: p["raw"] for p in document["packages"]}
    assert raw["ply"] == "BSD" and raw["markupsafe"].startswith("Copyright 2010 Pallets;")
    assert code == 1 and document["fails"]  # chardet's LGPL is denied
    assert len(pypi) == len(RELEASES)  # one request per release
    assert check(capsys, project(tmp_path, f"allow = {ALLOW}\n"), tmp_path)[1] == document
    assert len(pypi) == len(RELEASES)  # the second check asked nothing: cached


def test_an_and_needs_every_license_and_with_needs_the_license(tmp_path: Path) -> None:
    from triage import licenses
    from triage.core.licenses import allowed

    allow = {"MIT", "GPL-2.0-or-later"}
    assert allowed(licenses.tree("MIT OR LGPL-3.0-only"), allow)
    assert not allowed(licenses.tree("MIT AND LGPL-3.0-only"), allow)
    assert allowed(licenses.tree("GPL-2.0-or-later WITH Classpath-exception-2.0"), allow)
    assert not allowed(licenses.tree("GPL-3.0-only WITH Classpath-exception-2.0"), allow)
    assert allowed(
        licenses.tree("GPL-3.0-only WITH Classpath-exception-2.0"),
        {"GPL-3.0-only WITH Classpath-exception-2.0"},
    )


def test_clarify_overrides_and_an_exception_allows_only_its_package(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = (
        f"allow = {ALLOW}\n"
        "[[licenses.exceptions]]\n"
        'name = "chardet"\nallow = ["LGPL-2.0-or-later"]\n'
        "[[licenses.exceptions]]\n"
        'name = "nothing-locked"\nallow = ["GPL-3.0-only"]\n'
        "[[licenses.clarify]]\n"
        'name = "idna"\nversion = ">=3"\nexpression = "BSD-3-Clause"\n'
        "[[licenses.clarify]]\n"
        'name = "Packaging"\nexpression = "LGPL-2.0-or-later"\n'
        "[[licenses.clarify]]\n"
        'name = "ply"\nversion = "<3"\nexpression = "BSD-3-Clause"\n'
    )
    code, document = check(capsys, project(tmp_path, rules), tmp_path)
    found = verdicts(document)
    assert found["idna"] == ("allowed", "BSD-3-Clause", "clarify")
    assert found["chardet"] == ("allowed", "LGPL-2.0-or-later", "classifiers")
    # The same license on another package: the exception is chardet's alone.
    assert found["packaging"] == ("not-allowed", "LGPL-2.0-or-later", "clarify")
    assert found["ply"][0] == "unknown"  # 3.11 is not <3: the clarification does not apply
    assert [(d["code"], d["message"]) for d in document["diagnostics"]] == [
        (
            "license-exception-unused",
            "licenses.exceptions[1] (nothing-locked) allowed nothing a locked package needed",
        ),
        ("license-clarify-unused", "licenses.clarify[2] (ply <3) matched no locked package"),
    ]
    assert code == 1


def test_malformed_license_rules_are_exit_2_with_their_key_paths(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = (
        'allow = ["MIT", "BSD"]\nunlicensed = "maybe"\n'
        "[[licenses.clarify]]\n"
        'name = "idna"\nexpression = "MIT ORR Apache-2.0"\n'
        "[[licenses.exceptions]]\n"
        'name = "chardet"\nallow = ["LGPL"]\ncolour = "blue"\n'
    )
    root = project(tmp_path, rules)
    assert check(capsys, root, tmp_path)[0] == 2
    assert "licenses.unlicensed: 'maybe' is not one of allow, warn, deny" in ERRORS[-1]
    (root / "deny.toml").write_text(f"[licenses]\n{rules.replace('maybe', 'deny')}")
    assert check(capsys, root, tmp_path)[0] == 2
    assert "licenses.exceptions[0].colour: unknown key" in ERRORS[-1]
    (root / "deny.toml").write_text(
        f"[licenses]\n{rules.replace('maybe', 'deny').replace('colour = ', '# ')}"
    )
    assert check(capsys, root, tmp_path)[0] == 2
    err = ERRORS[-1]
    assert "licenses.allow: 'BSD' is not an SPDX license id" in err
    assert "licenses.exceptions[0].allow: 'LGPL' is not an SPDX license id" in err
    assert "licenses.clarify[0].expression: 'MIT ORR Apache-2.0' is not an SPDX expression" in err
    assert pypi == []  # nothing fetched for a policy that cannot be read


def test_offline_uses_the_cache_and_says_how_many_it_could_not_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    some = dict(list(RELEASES.items())[:4])
    with serve_get(answer) as (url, _):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        online = check(capsys, project(tmp_path, f"allow = {ALLOW}\n", some), tmp_path)
    monkeypatch.setenv("TRIAGE_PYPI_URL", "http://127.0.0.1:9")  # nothing listens
    root = project(tmp_path, f"allow = {ALLOW}\n", {**some, "six": "1.16.0"})
    code, offline = check(capsys, root, tmp_path, "--offline")
    assert [p for p in offline["packages"] if p["name"] != "six"] == online[1]["packages"]
    assert offline["not_judged"] == 1 and code == 1
    assert "offline: 1 package(s) not in the license cache could not be judged" in ERRORS[-1]


def test_an_unreachable_index_judges_nothing_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_PYPI_URL", "http://127.0.0.1:9")
    root = project(tmp_path, f"allow = {ALLOW}\n", {"attrs": "25.3.0"})
    code, document = check(capsys, root, tmp_path)
    assert code == 1 and document["not_judged"] == 1
    assert document["packages"][0]["verdict"] == "not-judged"


def test_a_pull_request_bumping_into_a_disallowed_license_fails_the_gate(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """cryptography 3.4.8 says "BSD or Apache License, Version 2.0" (free text: unknown, a
    warning); 44.0.0 says Apache-2.0 OR BSD-3-Clause, which the base does not allow. The
    pull request also allows Apache-2.0: listed for review, not applied."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "base",
        requirements_dot_txt="attrs==25.3.0\ncryptography==3.4.8\n",
        deny_dot_toml='[licenses]\nallow = ["MIT"]\n',
    )
    repo.branch("bump")
    repo.commit(
        "bump",
        requirements_dot_txt="attrs==25.3.0\ncryptography==44.0.0\nclick==8.2.1\n",
        deny_dot_toml='[licenses]\nallow = ["MIT", "Apache-2.0"]\n',
    )
    common = ["--base", "main", "--db", str(tmp_path / "t.db")]
    code = main(["diff", str(repo.root), *common, "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    changes = {c["package"]: c for c in document["licenses"]}
    assert set(changes) == {"cryptography", "click"}  # attrs did not change
    assert changes["cryptography"]["previous"] == ["unknown"]
    assert changes["cryptography"]["expression"] == "Apache-2.0 OR BSD-3-Clause"
    assert changes["cryptography"]["verdict"] == "not-allowed"
    assert changes["click"]["new_package"] and changes["click"]["level"] == "deny"
    assert document["policy_changes"]["licenses_changed"] == ["license allowed: Apache-2.0"]
    assert main(["diff", str(repo.root), *common, "--format", "markdown"]) == 1
    comment = capsys.readouterr().out
    assert (
        "| cryptography | 44.0.0 | Apache-2.0 OR BSD-3-Clause | unknown | not-allowed (fails) |"
        in comment
    )
    assert "- license allowed: Apache-2.0" in comment
    assert "2 license(s) the base policy does not allow" in comment


def test_without_licenses_in_the_base_policy_a_diff_asks_no_license_metadata(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", requirements_dot_txt="attrs==25.3.0\n")
    repo.branch("add")
    repo.commit("add", requirements_dot_txt="attrs==25.3.0\nchardet==5.2.0\n")
    code = main(["diff", str(repo.root), "--base", "main", "--db", str(tmp_path / "t.db")])
    # The project page of what the pull request adds (yanked files, project status), and
    # no package's metadata.
    assert code == 0 and pypi == ["/simple/chardet/"]
    assert "license" not in capsys.readouterr().out


def test_the_sbom_carries_each_components_license(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    pins = {"attrs": "25.3.0", "cryptography": "44.0.0", "idna": "3.10"}
    root = project(tmp_path, f"allow = {ALLOW}\n", pins)
    args = ["sbom", str(root), "--db", str(tmp_path / "t.db"), "--config", str(root / "deny.toml")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    licensed = {c["name"]: c.get("licenses") for c in json.loads(text)["components"]}
    assert licensed == {
        "attrs": [{"license": {"id": "MIT"}}],
        "cryptography": [{"expression": "Apache-2.0 OR BSD-3-Clause"}],
        "idna": None,  # "BSD License" names no one license: none is claimed
    }


def test_the_audit_keeps_one_issue_per_disallowed_package_and_closes_it_when_it_goes(
    pypi: list[str],
    synced_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    root = project(tmp_path, 'allow = ["MIT"]\n', {"attrs": "25.3.0", "chardet": "5.2.0"})
    (root / "deny.toml").write_text('[advisories]\nsources = []\n[licenses]\nallow = ["MIT"]\n')
    common = ["--db", str(db), "--config", str(root / "deny.toml")]

    def issues() -> dict[str, str]:
        capsys.readouterr()
        assert main(["issues", "--all", "--format", "json", "--db", str(db)]) == 0
        return {row["title"]: row["state"] for row in json.loads(capsys.readouterr().out)["issues"]}

    assert main(["audit", str(root), *common]) == 1  # chardet's LGPL is denied
    assert issues() == {"License not allowed: chardet": "open"}
    assert main(["audit", str(root), *common]) == 1
    assert issues() == {"License not allowed: chardet": "open"}  # the same one, not a second
    (root / "requirements.txt").write_text("attrs==25.3.0\n")
    assert main(["audit", str(root), *common]) == 0
    assert issues() == {"License not allowed: chardet": "closed"}


def test_a_release_naming_no_license_is_unlicensed_and_denied_by_default(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """namex 0.0.8 names no license at all: `unlicensed` decides (deny unless relaxed)."""
    root = project(tmp_path, f"allow = {ALLOW}\n", {"namex": "0.0.8"})
    code, document = check(capsys, root, tmp_path)
    assert code == 1 and verdicts(document) == {"namex": ("unlicensed", None, "none")}
    (root / "deny.toml").write_text(f'[licenses]\nallow = {ALLOW}\nunlicensed = "warn"\n')
    code, document = check(capsys, root, tmp_path)
    assert code == 0 and document["packages"][0]["level"] == "warn"


def test_a_damaged_license_cache_entry_is_not_judged_not_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pypi: list[str]
) -> None:
    root = project(tmp_path, f"allow = {ALLOW}\n", {"attrs": "25.3.0"})
    assert check(capsys, root, tmp_path)[0] == 0
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("update license_cache set metadata = '{\"info\": ['")
    code, document = check(capsys, root, tmp_path, "--offline")
    assert code == 1 and document["packages"][0]["verdict"] == "not-judged"


def test_the_sbom_refuses_a_malformed_clarification_too(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(
        tmp_path,
        'allow = ["MIT"]\n[[licenses.clarify]]\n'
        'name = "attrs"\nversion = "=>1"\nexpression = "MIT"\n',
        {"attrs": "25.3.0"},
    )
    args = ["sbom", str(root), "--db", str(tmp_path / "t.db"), "--config", str(root / "deny.toml")]
    assert main(args) == 2
    assert "licenses.clarify[0].version: '=>1' is not a specifier" in capsys.readouterr().err


def test_allow_entries_are_read_as_the_spdx_index_spells_them(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(
        tmp_path, 'allow = ["mit", "apache-2.0 WITH llvm-exception"]\n', {"attrs": "25.3.0"}
    )
    code, document = check(capsys, root, tmp_path)
    assert code == 0 and verdicts(document) == {"attrs": ("allowed", "MIT", "license-expression")}


def test_a_release_the_index_does_not_have_is_said_as_such(
    pypi: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, f"allow = {ALLOW}\n", {"no-such-package": "1.0"})
    code, report = check(capsys, root, tmp_path)
    assert code == 0  # unknown warns by default
    (result,) = report["packages"]
    assert result["verdict"] == "unknown" and result["source"] == "absent"
    assert result["why"] == "the index has no such release, so nothing says its license"
