"""`triage trust check` on the real PEP 740 evidence of ../shared/data/pep740, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from triage.cli import main

PEP740 = SHARED_DATA / "pep740"
DIGESTS = {
    name: info["sha256"]
    for name, info in json.loads((PEP740 / "distributions.json").read_text()).items()
}
PYPI_ATTESTATIONS = "pypi_attestations-0.0.19.tar.gz"
GITLAB_PROJECT = "gitlab_oidc_project-0.0.3.tar.gz"


def lock(root: Path, *artifacts: tuple[str, str, str, str]) -> None:
    """A pylock.toml with one sdist per (name, version, file name, sha256)."""
    entries = "".join(
        f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
        f'sdist = {{ name = "{filename}", url = "https://files.example/{filename}", '
        f'hashes = {{ sha256 = "{sha}" }} }}\n'
        for name, version, filename, sha in artifacts
    )
    (root / "pylock.toml").write_text(f'lock-version = "1.0"\ncreated-by = "test"\n{entries}')


def real_artifacts() -> list[tuple[str, str, str, str]]:
    return [
        ("pypi-attestations", "0.0.19", PYPI_ATTESTATIONS, DIGESTS[PYPI_ATTESTATIONS]),
        ("gitlab-oidc-project", "0.0.3", GITLAB_PROJECT, DIGESTS[GITLAB_PROJECT]),
    ]


def check(
    capsys: pytest.CaptureFixture[str],
    root: Path,
    mode: str,
    publishers: str | None = None,
    unsigned: str = "warn",
    provenance: Path = PEP740,
) -> tuple[int, dict[str, tuple[str, str]], str]:
    (root / "deny.toml").write_text(f'[trust]\nmode = "{mode}"\nunsigned = "{unsigned}"\n')
    store = root / "trust-store"
    store.mkdir(exist_ok=True)
    if publishers is not None:
        (store / "publishers.toml").write_text(publishers)
    code = main(
        [
            "trust",
            "check",
            str(root),
            "--provenance-dir",
            str(provenance),
            "--config",
            str(root / "deny.toml"),
            "--trust-store",
            str(store),
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 2:
        return code, {}, err
    verdicts = {a["filename"]: (a["verdict"], a["reason"]) for a in json.loads(out)["artifacts"]}
    return code, verdicts, err


TRAIL_OF_BITS = (
    '[[publisher]]\nkind = "github"\nrepository = "trailofbits/pypi-attestations"\n'
    'workflow = "{workflow}"\n'
)
GITLAB = (
    '[[publisher]]\nkind = "gitlab"\nrepository = "facutuesca/gitlab-oidc-project"\n'
    'workflow = ".gitlab-ci.yml"\npackages = ["gitlab-oidc-project"]\n'
)


def test_basic_trusts_any_valid_attestation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock(tmp_path, *real_artifacts())
    code, verdicts, _ = check(capsys, tmp_path, "basic")
    assert code == 0
    assert verdicts[PYPI_ATTESTATIONS][0] == "trusted"
    assert "github trailofbits/pypi-attestations release.yml" in verdicts[PYPI_ATTESTATIONS][1]
    assert verdicts[GITLAB_PROJECT] == (
        "trusted",
        "attested by gitlab facutuesca/gitlab-oidc-project .gitlab-ci.yml",
    )


def test_certified_trusts_only_listed_publishers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock(tmp_path, *real_artifacts())
    code, verdicts, _ = check(
        capsys, tmp_path, "certified", TRAIL_OF_BITS.format(workflow="release.yml")
    )
    assert code == 1
    assert verdicts[PYPI_ATTESTATIONS][0] == "trusted"
    assert verdicts[GITLAB_PROJECT][0] == "untrusted"
    assert "does not list for gitlab-oidc-project" in verdicts[GITLAB_PROJECT][1]
    code, verdicts, _ = check(
        capsys, tmp_path, "certified", TRAIL_OF_BITS.format(workflow="release.yml") + GITLAB
    )
    assert code == 0 and {v for v, _ in verdicts.values()} == {"trusted"}
    for other in (
        TRAIL_OF_BITS.format(workflow="publish.yml"),
        TRAIL_OF_BITS.replace("trailofbits/", "someone-else/").format(workflow="release.yml"),
    ):
        code, verdicts, _ = check(capsys, tmp_path, "certified", other + GITLAB)
        assert code == 1 and verdicts[PYPI_ATTESTATIONS][0] == "untrusted"


def test_a_gitlab_publisher_limited_to_other_packages_does_not_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock(tmp_path, *real_artifacts())
    scoped = GITLAB.replace('packages = ["gitlab-oidc-project"]', 'packages = ["other"]')
    _, verdicts, _ = check(capsys, tmp_path, "certified", scoped)
    assert verdicts[GITLAB_PROJECT][0] == "untrusted"


def test_empty_trust_store_trusts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock(tmp_path, *real_artifacts())
    code, verdicts, _ = check(capsys, tmp_path, "certified")
    assert code == 1 and {v for v, _ in verdicts.values()} == {"untrusted"}
    assert "certified mode trusts nothing" in verdicts[PYPI_ATTESTATIONS][1]


@pytest.mark.parametrize("mode", ["basic", "certified"])
def test_a_changed_hash_fails_in_every_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    tampered = DIGESTS[PYPI_ATTESTATIONS][:-1] + (
        "0" if DIGESTS[PYPI_ATTESTATIONS][-1] != "0" else "1"
    )
    lock(tmp_path, ("pypi-attestations", "0.0.19", PYPI_ATTESTATIONS, tampered))
    code, verdicts, _ = check(capsys, tmp_path, mode, TRAIL_OF_BITS.format(workflow="release.yml"))
    assert code == 1 and verdicts[PYPI_ATTESTATIONS][0] == "untrusted"
    assert "does not verify" in verdicts[PYPI_ATTESTATIONS][1]


def test_an_attestation_for_another_file_name_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = tmp_path / "provenance"
    evidence.mkdir()
    renamed = "pypi_attestations-0.0.20.tar.gz"
    shutil.copy(PEP740 / f"{PYPI_ATTESTATIONS}.provenance", evidence / f"{renamed}.provenance")
    lock(tmp_path, ("pypi-attestations", "0.0.20", renamed, DIGESTS[PYPI_ATTESTATIONS]))
    code, verdicts, _ = check(capsys, tmp_path, "basic", provenance=evidence)
    assert code == 1 and verdicts[renamed][0] == "untrusted"


def test_unsigned_follows_its_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock(tmp_path, ("rich", "13.7.0", "rich-13.7.0.tar.gz", "ab" * 32))
    code, verdicts, _ = check(capsys, tmp_path, "basic", unsigned="warn")
    assert code == 0 and verdicts["rich-13.7.0.tar.gz"] == (
        "unsigned",
        "no provenance for this file",
    )
    code, _, _ = check(capsys, tmp_path, "basic", unsigned="deny")
    assert code == 1


def test_hash_only_requirements_find_their_provenance_by_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "requirements.txt").write_text(
        f"pypi-attestations==0.0.19 --hash=sha256:{DIGESTS[PYPI_ATTESTATIONS]}\n"
    )
    code, verdicts, _ = check(capsys, tmp_path, "basic")
    assert code == 0 and verdicts[PYPI_ATTESTATIONS][0] == "trusted"


@pytest.mark.parametrize(
    ("publishers", "provenance_text", "expected"),
    [
        (
            '[[publisher]]\nkind = "bitbucket"\n',
            None,
            r"publishers\.toml: 1 problem.*publisher\[0\]\.kind: 'bitbucket' is not one of",
        ),
        (
            '[[publisher]]\nkind = "github"\nrepository = "a/b"\nworkflow = "w.yml"\ncolour = 1\n',
            None,
            r"publishers\.toml: 1 problem.*publisher\[0\]\.colour: unknown key",
        ),
        (None, "{not json", r"x-1\.0\.tar\.gz\.provenance: line 1, column 2: not JSON"),
        (
            None,
            '{"version": 1}',
            r"x-1\.0\.tar\.gz\.provenance: attestation_bundles: Field required",
        ),
    ],
)
def test_bad_trust_input_is_exit_2_with_file_and_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    publishers: str | None,
    provenance_text: str | None,
    expected: str,
) -> None:
    import re

    evidence = tmp_path / "provenance"
    evidence.mkdir()
    if provenance_text is not None:
        (evidence / "x-1.0.tar.gz.provenance").write_text(provenance_text)
    lock(tmp_path, *real_artifacts())
    code, _, err = check(capsys, tmp_path, "certified", publishers, provenance=evidence)
    assert code == 2 and re.search(expected, err, flags=re.S), err
