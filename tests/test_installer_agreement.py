"""Readers agree with the installer (issue 21): what pip, uv or an installer of a PEP 751 lock
would install is what triage audits, or the file is refused naming the place. Each case comes
from a peer reader's own fixtures (osv-scalibr, osv-scanner, pip-audit, packaging) or a real
file, and runs through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LOCKFILES
from tests.gitrepos import GitRepo
from tests.test_fail_closed import triage

URLLIB3_200 = {"PYSEC-2023-192/urllib3", "PYSEC-2023-212/urllib3"}
WHEEL = "https://files.pythonhosted.org/packages/aa/bb"


def scan(capsys: pytest.CaptureFixture[str], db: Path, root: Path, *more: str) -> tuple[int, Any]:
    code, out, err = triage(capsys, "scan", str(root), "--db", str(db), "--format", "json", *more)
    assert code in (0, 1), err
    return code, json.loads(out)


def refused(capsys: pytest.CaptureFixture[str], db: Path, root: Path) -> str:
    code, out, err = triage(capsys, "scan", str(root), "--db", str(db))
    assert code == 2 and not out, err
    return err


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "app"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_version_from_the_environment_is_unpinned_and_possibly_affected_by_every_advisory(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    # pip replaces ${DJANGO_VERSION} before reading the line: any django may be installed.
    root = project(tmp_path, {"requirements.txt": "django==${DJANGO_VERSION}\n"})
    code, document = scan(capsys, synced_db, root)
    assert code == 0 and document["findings"] == [] and document["packages"] == 0
    (item,) = document["unpinned"]
    assert item["package"] == "django" and "${DJANGO_VERSION}" in item["reason"]
    assert len(item["possibly_affected"]) > 100  # every django advisory the data has
    (root / "deny.toml").write_text('[advisories]\nunpinned = "deny"\n')
    code, out, _ = triage(capsys, "scan", str(root), "--db", str(synced_db))
    assert code == 1 and "deny[unpinned]: requirements.txt:line 1: django is not pinned" in out


def test_a_project_named_by_the_environment_is_listed_and_judged_as_unpinned(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    root = project(
        tmp_path,
        {
            "requirements.txt": "${PACKAGE}==1.0\nurllib3==2.0.0\n",
            "deny.toml": '[advisories]\nunpinned = "deny"\n',
        },
    )
    code, document = scan(capsys, synced_db, root)
    assert code == 1 and {f["key"] for f in document["findings"]} == URLLIB3_200
    assert [u["package"] for u in document["unpinned"]] == ["${PACKAGE}==1.0"]
    (violation,) = [v for v in document["policy"]["violations"] if v["code"] == "unpinned"]
    assert "cannot be told from the file" in violation["message"]


def test_an_option_line_with_a_trailing_argument_is_listed_and_the_rest_is_read(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    # pip applies --extra-index-url and ignores what follows its value; the file is read on.
    line = "--extra-index-url https://download.pytorch.org/whl/cpu https://x.org/a-1.0-py3-none-any.whl"
    root = project(tmp_path, {"requirements.txt": f"{line}\nurllib3==2.0.0\n"})
    code, document = scan(capsys, synced_db, root)
    assert code == 1 and {f["key"] for f in document["findings"]} == URLLIB3_200
    (ignored,) = document["unpinned"]
    assert ignored["package"] == "https://x.org/a-1.0-py3-none-any.whl"
    assert ignored["location"] == "line 1" and "pip ignores" in ignored["reason"]


def test_a_pipfile_lock_arbitrary_equality_pin_is_matched(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    lock = {"_meta": {}, "default": {"urllib3": {"version": "===2.0.0"}}, "develop": {}}
    root = project(tmp_path, {"Pipfile.lock": json.dumps(lock)})
    code, document = scan(capsys, synced_db, root)
    assert code == 1 and {f["key"] for f in document["findings"]} == URLLIB3_200
    assert {f["version"] for f in document["findings"]} == {"2.0.0"}


PYLOCK = 'lock-version = "1.0"\ncreated-by = "test"\n'


def pylock_package(version: str | None, *wheels: str, sdist: str | None = None) -> str:
    lines = ["[[packages]]", 'name = "urllib3"']
    if version is not None:
        lines.append(f'version = "{version}"')
    for wheel in wheels:
        lines += ["[[packages.wheels]]", f'url = "{WHEEL}/{wheel}"', "hashes = {sha256 = 'ab'}"]
    if sdist is not None:
        lines += ["[packages.sdist]", f'url = "{WHEEL}/{sdist}"', "hashes = {sha256 = 'cd'}"]
    return "\n".join(lines) + "\n"


def test_a_pylock_without_packages_is_not_an_empty_lock(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    root = project(tmp_path, {"pylock.toml": PYLOCK})
    assert "pylock.toml: packages: missing: a PEP 751 lock lists its packages" in refused(
        capsys, synced_db, root
    )
    (root / "pylock.toml").write_text(PYLOCK + "packages = []\n")  # empty, and saying so
    code, document = scan(capsys, synced_db, root)
    assert code == 0 and document["packages"] == 0


@pytest.mark.parametrize(
    ("entry", "place", "stated"),
    [
        (pylock_package("2.0.7", "urllib3-2.0.0-py3-none-any.whl"), "wheels[0]", "urllib3 2.0.0"),
        (pylock_package("2.0.7", "requests-2.0.7-py3-none-any.whl"), "wheels[0]", "requests"),
        (pylock_package("2.0.7", sdist="urllib3-2.0.0.tar.gz"), "sdist", "urllib3 2.0.0"),
        (pylock_package("2.0.7", "not-a-wheel.whl"), "wheels[0]", "not a wheel file name"),
    ],
)
def test_a_pylock_entry_whose_files_are_another_release_is_refused(
    capsys: pytest.CaptureFixture[str],
    synced_db: Path,
    tmp_path: Path,
    entry: str,
    place: str,
    stated: str,
) -> None:
    root = project(tmp_path, {"pylock.toml": PYLOCK + entry})
    err = refused(capsys, synced_db, root)
    assert f"pylock.toml: packages[0].{place}: " in err and stated in err


def test_a_uv_lock_entry_whose_files_are_another_release_is_refused(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    lock = (
        'version = 1\n[[package]]\nname = "urllib3"\nversion = "2.0.7"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = "{WHEEL}/urllib3-2.0.0-py3-none-any.whl", hash = "sha256:ab" }}]\n'
    )
    root = project(tmp_path, {"uv.lock": lock})
    err = refused(capsys, synced_db, root)
    assert "uv.lock: package[0].wheels[0]: the file 'urllib3-2.0.0-py3-none-any.whl' is " in err
    assert "urllib3 2.0.0, but package[0] declares urllib3 2.0.7" in err


def test_a_pylock_package_without_a_version_takes_its_files_version_when_they_agree(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    # PEP 751 makes `version` optional; the files say which release it is.
    agreeing = pylock_package(None, "urllib3-2.0.0-py3-none-any.whl", sdist="urllib3-2.0.0.tar.gz")
    root = project(tmp_path, {"pylock.toml": PYLOCK + agreeing})
    code, document = scan(capsys, synced_db, root)
    assert code == 1 and {f["key"] for f in document["findings"]} == URLLIB3_200
    disagreeing = pylock_package(
        None, "urllib3-2.0.0-py3-none-any.whl", sdist="urllib3-2.0.7.tar.gz"
    )
    (root / "pylock.toml").write_text(PYLOCK + disagreeing)
    code, document = scan(capsys, synced_db, root)
    assert document["findings"] == []
    (item,) = document["unpinned"]
    assert item["location"] == "packages[0]" and "do not name one release" in item["reason"]
    assert set(URLLIB3_200) <= {f"{a}/urllib3" for a in item["possibly_affected"]}


def test_every_real_lock_agrees_with_its_files(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    """The file-name rule refuses no real lock (their files name what the entries say, old
    poetry locks' shared [metadata.files] included)."""
    for name in (
        "invoke-ai__InvokeAI__uv.lock",
        "pydantic__pydantic-ai__uv.lock",
        "python-poetry__poetry__poetry.lock",
        "getredash__redash__poetry.lock",
        "pypa__pipenv__pylock.toml",
        "Comfy-Org__comfy-cli__pylock.toml",
        "pypa__packaging__tests__pylock__pylock.spec-example.toml",
    ):
        target = tmp_path / name.replace("__", "_") / name.rsplit("__", 1)[1]
        target.parent.mkdir()
        target.write_bytes((LOCKFILES / name).read_bytes())
        _code, document = scan(capsys, synced_db, target.parent)
        assert document["packages"] > 0, name


def test_a_pull_request_turning_a_pin_into_a_non_pep440_version_never_passes_silently(
    capsys: pytest.CaptureFixture[str], synced_db: Path, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("pins", {"requirements.txt": "urllib3==2.0.0\n"})
    repo.branch("typo")
    repo.commit("a letter O for a zero", {"requirements.txt": "urllib3==2.0.O\n"})
    diff = ["diff", str(repo.root), "--base", "main", "--db", str(synced_db)]
    code, out, err = triage(capsys, *diff, "--format", "json")
    assert code == 0, err  # the default `unpinned = "warn"`: said, not failed
    document = json.loads(out)
    (added,) = document["unpinned_added"]
    assert added["package"] == "urllib3" and "'2.0.O' is not a PEP 440 version" in added["reason"]
    assert set(URLLIB3_200) <= {f"{a}/urllib3" for a in added["possibly_affected"]}
    code, out, _ = triage(capsys, *diff, "--format", "markdown")
    assert "### Requirements this pull request adds without one version" in out
    assert "urllib3 — version" in out
    repo.checkout("main")
    repo.commit("strict", {"deny.toml": '[advisories]\nunpinned = "deny"\n'})
    repo.checkout("typo")
    repo.git("rebase", "-q", "main")
    code, out, _ = triage(capsys, *diff)
    assert code == 1 and "deny[unpinned]: requirements.txt:line 1: urllib3 is not pinned" in out
    assert "Gate: failing — 1 new requirement(s) not pinned to one version." in out
