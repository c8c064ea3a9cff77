"""`triage sbom` (issue 13, SPEC §11): CycloneDX 1.6 that cyclonedx-python-lib's own
validator accepts, one component per locked package, VEX from the ledger and the rotation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import LOCKFILES
from tests.test_rotation import PILLOW_KEYS, URLLIB3_HIGH, synced
from triage import lockfiles
from triage.cli import main

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)
NAMES = {
    "requirements": "requirements.txt",
    "pylock": "pylock.toml",
    "uv": "uv.lock",
    "poetry": "poetry.lock",
    "pipfile": "Pipfile.lock",
}


def _kind(path: Path) -> str:
    """A real file's format (their saved names end in the format's own name)."""
    found = lockfiles.lockfile_format(path)
    return found.id.value if found is not None else "requirements"


# Every real lockfile (redash's pyproject.toml is its poetry.lock's companion, not a lock).
REAL = [
    p
    for p in sorted(LOCKFILES.iterdir())
    if p.is_file() and p.suffix != ".md" and _kind(p) != "pyproject"
]


def sbom(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["sbom", *args]) == 0
    text = capsys.readouterr().out
    assert VALIDATOR.validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.mark.parametrize("lockfile", REAL, ids=lambda p: p.name)
def test_every_real_lockfile_gives_a_valid_sbom_with_one_component_per_package(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], lockfile: Path
) -> None:
    kind = _kind(lockfile)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(lockfile, root / NAMES[kind])
    document = sbom(capsys, str(root), "--db", str(synced_db))
    read = lockfiles.read_lockfile(root / NAMES[kind], root)
    locked = {(p.name, p.version) for p in read.packages}
    purls = {unquote(c["purl"]) for c in document["components"]}  # 1.0+cpu is 1.0%2Bcpu
    assert len(document["components"]) == len(locked) == len(purls)
    assert purls == {f"pkg:pypi/{name}@{version}" for name, version in locked}
    refs = {c["bom-ref"] for c in document["components"]}
    for vulnerability in document.get("vulnerabilities", []):
        assert {a["ref"] for a in vulnerability["affects"]} <= refs
    subject = document["metadata"]["component"]["bom-ref"]
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert set(graph) == refs | {subject} and graph[subject]
    lock_property = next(
        p["value"] for p in document["metadata"]["properties"] if p["name"] == "triage:lockfile"
    )
    assert lock_property.startswith(f"{NAMES[kind]} sha256:")
    database = [p["value"] for p in document["metadata"]["properties"] if "database" in p["name"]]
    assert database and database[0].startswith("sha256:")


def test_hashes_from_the_lockfile_and_the_graph_it_states(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(
        LOCKFILES / "fastapi__full-stack-fastapi-template__backend__uv.lock", root / "uv.lock"
    )
    document = sbom(capsys, str(root), "--db", str(synced_db))
    components = {c["name"].lower(): c for c in document["components"]}
    assert all(h["alg"] == "SHA-256" for h in components["fastapi"]["hashes"])
    assert components["fastapi"]["hashes"]
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in document["dependencies"]}
    fastapi = components["fastapi"]["bom-ref"]
    starlette = components["starlette"]["bom-ref"]
    assert starlette in graph[fastapi]  # fastapi requires starlette, as uv.lock says


def test_vex_from_the_ledger_and_the_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "the proxy in front strips the header"
    issue = "https://github.com/o/r/issues/12"
    advisory, package = URLLIB3_HIGH.split("/")
    root, db = synced(
        tmp_path,
        "[[advisories.ignore]]\n"
        f'id = "{advisory}"\npackage = "{package}"\nreason = "{reason}"\nissue = "{issue}"\n',
    )
    common = ["--db", str(db), "--config", str(root / "deny.toml")]
    assert main(["audit", str(root), *common]) == 1  # records the findings for the rotation
    assert main(["claim", PILLOW_KEYS[0], "--as", "alice", *common]) == 0
    capsys.readouterr()
    document = sbom(capsys, str(root), *common)
    analyses = {v["bom-ref"]: v["analysis"] for v in document["vulnerabilities"]}
    # An ignore that does not say why in CycloneDX's terms is accepted risk, never a claim
    # that the package is safe.
    assert analyses[URLLIB3_HIGH]["state"] == "exploitable"
    assert analyses[URLLIB3_HIGH]["response"] == ["will_not_fix"]
    detail = analyses[URLLIB3_HIGH]["detail"]
    assert detail.startswith("accepted risk: ") and reason in detail and issue in detail
    assert "justification" not in analyses[URLLIB3_HIGH]
    assert analyses[PILLOW_KEYS[0]]["state"] == "in_triage"
    assert "alice" in analyses[PILLOW_KEYS[0]]["detail"]
    assert analyses[PILLOW_KEYS[1]]["state"] == "exploitable"

    vex = sbom(capsys, str(root), *common, "--vex-only")
    subject = vex["metadata"]["component"]["bom-ref"]
    assert all(not d.get("dependsOn") for d in vex["dependencies"] if d["ref"] != subject)
    assert {c["name"] for c in vex["components"]} == {"urllib3", "pillow"}
    assert len(vex["vulnerabilities"]) == len(document["vulnerabilities"])

    # `triage ignore --justification` writes the reason a consumer may rely on.
    ignore = ["ignore", PILLOW_KEYS[1], str(root), "--reason", "never decoded", "--issue", issue]
    assert main([*ignore, "--justification", "code_not_reachable", "--package", *common]) == 0
    assert 'justification = "code_not_reachable"' in (root / "deny.toml").read_text()
    capsys.readouterr()
    analyses = {
        v["bom-ref"]: v["analysis"] for v in sbom(capsys, str(root), *common)["vulnerabilities"]
    }
    assert analyses[PILLOW_KEYS[1]]["state"] == "not_affected"
    assert analyses[PILLOW_KEYS[1]]["justification"] == "code_not_reachable"
    assert "response" not in analyses[PILLOW_KEYS[1]]
    # Any other word is refused, naming the key, as every deny.toml problem is.
    text = (root / "deny.toml").read_text().replace("code_not_reachable", "trust_me")
    (root / "deny.toml").write_text(text)
    assert main(["sbom", str(root), *common]) == 2
    err = capsys.readouterr().err
    assert "justification: 'trust_me' is not one of CycloneDX's justifications" in err


def test_the_same_bom_as_xml(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(LOCKFILES / "CTFd__CTFd__requirements.txt", root / "requirements.txt")
    as_json = sbom(capsys, str(root), "--db", str(synced_db))
    assert main(["sbom", str(root), "--db", str(synced_db), "--format", "cyclonedx-xml"]) == 0
    tree = ElementTree.fromstring(capsys.readouterr().out)
    space = {"c": "http://cyclonedx.org/schema/bom/1.6"}
    purls = {e.text for e in tree.findall("c:components/c:component/c:purl", space)}
    assert purls == {c["purl"] for c in as_json["components"]}
    ids = [e.text or "" for e in tree.findall("c:vulnerabilities/c:vulnerability/c:id", space)]
    assert sorted(ids) == sorted(v["id"] for v in as_json["vulnerabilities"])
