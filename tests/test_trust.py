"""`triage trust check` on the real PEP 740 evidence of ../shared/data/pep740, offline."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import NOW, SHARED_DATA, workspace
from tests.http_stub import IndexListing, refusing_url, serve_get, serve_index, silent_server
from triage.cli import main

PEP740 = SHARED_DATA / "pep740"
DIGESTS = {
    name: info["sha256"]
    for name, info in json.loads((PEP740 / "distributions.json").read_text()).items()
}
PYPI_ATTESTATIONS = "pypi_attestations-0.0.19.tar.gz"
GITLAB_PROJECT = "gitlab_oidc_project-0.0.3.tar.gz"


def real_index() -> IndexListing:
    """The two real projects as PyPI lists them: provenance for pypi-attestations' sdist, and
    none (null) for gitlab-oidc-project's."""
    return {
        "pypi-attestations": [
            (
                PYPI_ATTESTATIONS,
                DIGESTS[PYPI_ATTESTATIONS],
                (PEP740 / f"{PYPI_ATTESTATIONS}.provenance").read_bytes(),
            ),
            ("pypi_attestations-0.0.19-py3-none-any.whl", "ab" * 32, None),
        ],
        "gitlab-oidc-project": [(GITLAB_PROJECT, DIGESTS[GITLAB_PROJECT], None)],
    }


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
    provenance: Path | None = PEP740,
) -> tuple[int, dict[str, tuple[str, str]], str]:
    (root / "deny.toml").write_text(f'[trust]\nmode = "{mode}"\nunsigned = "{unsigned}"\n')
    store = root / "trust-store"
    store.mkdir(exist_ok=True)
    if publishers is not None:
        (store / "publishers.toml").write_text(publishers)
    where = ["--provenance-dir", str(provenance)] if provenance is not None else []
    code = main(
        [
            "trust",
            "check",
            str(root),
            *where,
            "--db",
            str(root / "t.db"),
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
    if code >= 2:  # an error: the message is all there is
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
    assert (
        main(
            [
                "trust",
                "check",
                str(tmp_path),
                "--provenance-dir",
                str(PEP740),
                "--config",
                str(tmp_path / "deny.toml"),
                "--db",
                str(tmp_path / "t.db"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "trust mode: basic"
    assert table[1].startswith(f"ok    trusted    {PYPI_ATTESTATIONS}  (pypi-attestations 0.0.19)")
    assert table[-1] == "2 trusted, 0 untrusted, 0 unsigned; 0 failing the policy"


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
    assert "does not list it for gitlab-oidc-project" in verdicts[GITLAB_PROJECT][1]
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


# --- audit mode ---------------------------------------------------------------------------------


def certify(
    capsys: pytest.CaptureFixture[str],
    store: Path,
    keys: Path,
    requirement: str,
    key: str = "alice",
    *extra: str,
) -> int:
    code = main(
        [
            "trust",
            "certify",
            requirement,
            "--criteria",
            "safe-to-deploy",
            "--key",
            key,
            "--who",
            "Alice",
            "--private-dir",
            str(keys),
            "--trust-store",
            str(store),
            *extra,
        ]
    )
    capsys.readouterr()
    return code


@pytest.fixture
def audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, Path]:
    """A repository with a key `alice` and its trust store; returns (repo, store, keys)."""
    repo, keys = tmp_path / "repo", tmp_path / "home" / "keys"
    store = repo / "trust-store"
    repo.mkdir()
    monkeypatch.chdir(repo)
    assert (
        main(["trust", "keygen", "alice", "--private-dir", str(keys), "--trust-store", str(store)])
        == 0
    )
    capsys.readouterr()
    return repo, store, keys


def audit_verdict(capsys: pytest.CaptureFixture[str], repo: Path, version: str) -> tuple[int, str]:
    lock(repo, ("demo", version, f"demo-{version}.tar.gz", "cd" * 32))
    code, verdicts, err = check(capsys, repo, "audit", provenance=PEP740)
    if code >= 2:
        return code, err
    return code, verdicts[f"demo-{version}.tar.gz"][1]


def test_keygen_writes_a_private_key_0600_outside_and_the_public_key_inside(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, keys = audited
    assert (keys / "alice.key").stat().st_mode & 0o777 == 0o600
    assert (store / "keys" / "alice.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (
        main(
            [
                "trust",
                "keygen",
                "bob",
                "--private-dir",
                str(repo / "secrets"),
                "--trust-store",
                str(store),
            ]
        )
        == 2
    )
    assert "inside the repository" in capsys.readouterr().err
    assert (
        main(["trust", "keygen", "alice", "--private-dir", str(keys), "--trust-store", str(store)])
        == 2
    )
    assert "never overwritten" in capsys.readouterr().err


def test_certified_record_passes_and_tampering_fails(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, keys = audited
    (store / "audits.toml").write_text("# Our audits. Keep this comment.\n\n")
    assert certify(capsys, store, keys, "demo==1.0", "alice", "--notes", "read every line") == 0
    text = (store / "audits.toml").read_text()
    assert text.startswith("# Our audits. Keep this comment.\n\n[[audit]]\n")
    code, reason = audit_verdict(capsys, repo, "1.0")
    assert code == 0 and reason == "audited 1.0 (safe-to-deploy, Alice, trust-store/audits.toml)"
    (store / "audits.toml").write_text(text.replace("read every line", "read every linE"))
    code, reason = audit_verdict(capsys, repo, "1.0")
    assert code == 1 and "signature does not match its content" in reason
    (store / "audits.toml").write_text(text)
    assert audit_verdict(capsys, repo, "1.1") == (1, "no audit record covers demo 1.1")


def test_a_record_signed_by_an_unknown_key_fails(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, keys = audited
    assert (
        main(
            ["trust", "keygen", "mallory", "--private-dir", str(keys), "--trust-store", str(store)]
        )
        == 0
    )
    assert certify(capsys, store, keys, "demo==1.0", "mallory") == 0
    (store / "keys" / "mallory.pub").unlink()  # not a key the trust store vouches for
    code, reason = audit_verdict(capsys, repo, "1.0")
    assert code == 1 and "signed by ed25519:mallory, which trust-store/keys/ lacks" in reason


def test_a_delta_chain_covers_the_version_it_reaches(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, keys = audited
    assert certify(capsys, store, keys, "demo==1.0") == 0
    assert certify(capsys, store, keys, "demo==1.1", "alice", "--from", "1.0") == 0
    assert certify(capsys, store, keys, "demo==1.2", "alice", "--from", "1.1") == 0
    code, reason = audit_verdict(capsys, repo, "1.2")
    assert code == 0 and reason.startswith("audited 1.0 -> 1.1 -> 1.2")
    assert certify(capsys, store, keys, "demo==3.1", "alice", "--from", "3.0") == 0
    assert audit_verdict(capsys, repo, "3.1")[0] == 1  # a delta from an unaudited version


def test_pinned_imports_count_and_a_changed_import_is_refused(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    repo, store, _ = audited
    external = store / "imports" / "partner.toml"
    external.parent.mkdir()
    external.write_text(
        '[[audit]]\npackage = "demo"\nversion = "2.0"\ncriteria = "safe-to-run"\nwho = "Partner"\n'
    )
    pin = hashlib.sha256(external.read_bytes()).hexdigest()
    (store / "imports.toml").write_text(
        f'[[import]]\nname = "partner"\npath = "imports/partner.toml"\nsha256 = "{pin}"\n'
    )
    code, reason = audit_verdict(capsys, repo, "2.0")
    assert code == 0 and reason == "audited 2.0 (safe-to-run, Partner, import partner)"
    external.write_text(external.read_text().replace("2.0", "2.1"))
    code, err = audit_verdict(capsys, repo, "2.0")
    assert code == 2 and "partner.toml no longer matches its pinned sha256" in err


def test_a_key_file_that_is_not_ed25519_is_exit_2(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    repo, store, keys = audited
    assert certify(capsys, store, keys, "demo==1.0") == 0
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (store / "keys" / "p256.pub").write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    code, err = audit_verdict(capsys, repo, "1.0")
    assert code == 2 and "p256.pub: not an ed25519 public key" in err
    (store / "keys" / "p256.pub").write_text("not a key at all\n")
    code, err = audit_verdict(capsys, repo, "1.0")
    assert code == 2 and "p256.pub: not a PEM public key" in err


def test_provenance_comes_from_one_page_per_project_and_is_cached_for_offline_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock(tmp_path, *real_artifacts())
    with serve_index(real_index()) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, verdicts, first_err = check(capsys, tmp_path, "basic", provenance=None)
    # One page per project; the one file the pages name provenance for; nothing for the other.
    assert code == 0 and sorted(served) == [
        ("/integrity/pypi_attestations-0.0.19.tar.gz/provenance", 200),
        ("/simple/gitlab-oidc-project/", 200),
        ("/simple/pypi-attestations/", 200),
    ], first_err
    assert verdicts[PYPI_ATTESTATIONS][0] == "trusted"
    assert verdicts[GITLAB_PROJECT] == ("unsigned", "no provenance for this file")
    # The index is gone now: both answers come from the cache, and the provenance still
    # verifies; any request would have warned.
    code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
    assert code == 0 and verdicts[PYPI_ATTESTATIONS][0] == "trusted", err
    assert verdicts[GITLAB_PROJECT][0] == "unsigned" and "warning" not in err


def test_a_hash_only_pin_finds_its_file_on_the_project_page_by_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """requirements.txt pins by hash alone: the page's file with that digest is the one, so
    its provenance is fetched and verified (it passed as unsigned, without a word, before)."""
    sdist = DIGESTS[PYPI_ATTESTATIONS]
    (tmp_path / "requirements.txt").write_text(
        f"pypi-attestations==0.0.19 --hash=sha256:{sdist} --hash=sha256:{'cd' * 32}\n"
    )
    with serve_index(real_index()) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
        assert sorted(served) == [
            ("/integrity/pypi_attestations-0.0.19.tar.gz/provenance", 200),
            ("/simple/pypi-attestations/", 200),
        ], err
        assert code == 0 and verdicts[PYPI_ATTESTATIONS][0] == "trusted", verdicts
        unlisted = [name for name in verdicts if name != PYPI_ATTESTATIONS]
        assert len(unlisted) == 1 and verdicts[unlisted[0]][0] == "unsigned"
        served.clear()
        code, again, err = check(capsys, tmp_path, "basic", provenance=None)
    assert served == [] and again == verdicts and "warning" not in err  # from the cache


def test_a_project_page_is_asked_again_with_its_etag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file of a project already seen: its page is asked with the ETag kept from the
    last run, and the index's 304 reuses the kept page (no body sent)."""
    lock(tmp_path, real_artifacts()[0])
    wheel = "pypi_attestations-0.0.19-py3-none-any.whl"
    with serve_index(real_index()) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        assert check(capsys, tmp_path, "basic", provenance=None)[0] == 0
        served.clear()
        lock(tmp_path, real_artifacts()[0], ("pypi-attestations", "0.0.19", wheel, "ab" * 32))
        code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
    assert code == 0 and served == [("/simple/pypi-attestations/", 304)], err
    assert verdicts[wheel] == ("unsigned", "no provenance for this file")


def test_a_page_sent_without_an_etag_is_reused_for_ten_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror sending no ETag cannot be asked conditionally: its page serves the next runs
    for ten minutes (PyPI's own max-age), then it is asked for again."""
    import triage.service.workspace
    from tests.conftest import NOW

    wheel = "pypi_attestations-0.0.19-py3-none-any.whl"
    lock(tmp_path, real_artifacts()[0])
    with serve_index(real_index(), etags=False) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        assert check(capsys, tmp_path, "basic", provenance=None)[0] == 0
        served.clear()
        lock(tmp_path, real_artifacts()[0], ("pypi-attestations", "0.0.19", wheel, "ab" * 32))
        code, verdicts, _ = check(capsys, tmp_path, "basic", provenance=None)
        assert code == 0 and served == [] and verdicts[wheel][0] == "unsigned"
        later = NOW + dt.timedelta(minutes=11)
        monkeypatch.setattr(triage.service.workspace, "utc_now", lambda: later)
        lock(tmp_path, real_artifacts()[0], ("pypi-attestations", "0.0.19", wheel, "ef" * 32))
        assert check(capsys, tmp_path, "basic", provenance=None)[0] == 0
    assert served == [("/simple/pypi-attestations/", 200)]


def test_offline_fetches_nothing_and_says_what_it_did_not_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock(tmp_path, *real_artifacts())
    with serve_index(real_index()) as (url, served):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        monkeypatch.setenv("TRIAGE_OFFLINE", "1")
        code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
        assert served == [] and code == 0
        assert "offline" in err and "provenance of 2 file(s) not checked" in err
        assert {v for v, _ in verdicts.values()} == {"unsigned"}
        monkeypatch.delenv("TRIAGE_OFFLINE")
        code = main(["trust", "check", str(tmp_path), "--db", str(tmp_path / "t.db"), "--offline"])
        assert served == [] and "provenance of 2 file(s) not checked" in capsys.readouterr().err


def test_the_audit_tracks_untrusted_package_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage.service import audit
    from triage.store import Caches, Database

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    lock(repo, ("pypi-attestations", "0.0.19", PYPI_ATTESTATIONS, DIGESTS[PYPI_ATTESTATIONS]))
    (repo / "deny.toml").write_text(
        f'[advisories]\nsources = ["{tmp_path / "none"}"]\n[trust]\nmode = "certified"\n'
    )
    (tmp_path / "none").mkdir()
    store = repo / "trust-store"
    store.mkdir()
    db = tmp_path / "t.db"
    opened = Database(db)
    cache = Caches(opened)  # provenance fetched earlier, now cached
    cache.cache_provenance(
        PYPI_ATTESTATIONS,
        DIGESTS[PYPI_ATTESTATIONS],
        (PEP740 / f"{PYPI_ATTESTATIONS}.provenance").read_text(),
        fetched=NOW,
    )
    opened.close()
    args = [
        "audit",
        str(repo),
        "--db",
        str(db),
        "--config",
        str(repo / "deny.toml"),
        "--trust-store",
        str(store),
    ]
    assert main(args) == 1  # certified with an empty trust store trusts nothing
    err = capsys.readouterr().err
    assert "trust (certified): 0 trusted, 1 untrusted, 0 unsigned" in err
    assert audit.local_issues(workspace(db), include_closed=True) == [
        {
            "number": 1,
            "key": "untrusted/pypi-attestations==0.0.19",
            "state": "open",
            "title": "Untrusted dependency: pypi-attestations 0.0.19",
        }
    ]
    (store / "publishers.toml").write_text(TRAIL_OF_BITS.format(workflow="release.yml"))
    assert main(args) == 0
    assert "1 trusted, 0 untrusted" in capsys.readouterr().err
    assert audit.local_issues(workspace(db), include_closed=True)[0]["state"] == "closed"


def test_diff_lists_artifacts_that_became_untrusted_judged_by_the_base_trust_store(
    tmp_path: Path,
) -> None:
    from tests.gitrepos import GitRepo
    from triage.service import diff, sync
    from triage.store import Caches, Database

    db = tmp_path / "t.db"
    sync.sync(workspace(db, NOW), [])
    opened = Database(db)
    cache = Caches(opened)
    cache.cache_provenance(
        PYPI_ATTESTATIONS,
        DIGESTS[PYPI_ATTESTATIONS],
        (PEP740 / f"{PYPI_ATTESTATIONS}.provenance").read_text(),
        fetched=NOW,
    )
    gitlab = json.loads((PEP740 / f"{GITLAB_PROJECT}.publish.attestation").read_text())
    as_provenance = {
        "version": 1,
        "attestation_bundles": [
            {
                "publisher": {
                    "kind": "GitLab",
                    "repository": "facutuesca/gitlab-oidc-project",
                    "workflow_filepath": ".gitlab-ci.yml",
                },
                "attestations": [gitlab],
            }
        ],
    }
    cache.cache_provenance(
        GITLAB_PROJECT, DIGESTS[GITLAB_PROJECT], json.dumps(as_provenance), fetched=NOW
    )
    opened.close()
    repo = GitRepo(tmp_path / "repo")
    lock(repo.root, real_artifacts()[0])
    repo.commit(
        "base",
        {
            "deny.toml": '[trust]\nmode = "certified"\n',
            "trust-store/publishers.toml": TRAIL_OF_BITS.format(workflow="release.yml"),
        },
    )
    repo.branch("feature")
    lock(repo.root, *real_artifacts())
    repo.commit(
        "add a GitLab-published package and vouch for it in the same PR",
        {"trust-store/publishers.toml": TRAIL_OF_BITS.format(workflow="release.yml") + GITLAB},
    )
    result = diff.diff(workspace(db, NOW, repo.root), "main", "HEAD")
    assert [r.evidence.filename for r in result.became_untrusted] == [GITLAB_PROJECT]
    assert "does not list it for gitlab-oidc-project" in result.became_untrusted[0].reason
    assert result.policy.trust_store_changed == ("trust-store/publishers.toml",)
    assert result.fails
    # The comment's verdict comes from the same decision as the exit code.
    from triage.core.report import pr_comment

    assert "**Gate: failing** — 1 newly untrusted artifact(s)." in pr_comment(result)


def test_an_import_by_url_is_pinned_cached_and_refused_when_changed(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    repo, store, _ = audited
    content = {
        "body": b'[[audit]]\npackage = "demo"\nversion = "4.0"\ncriteria = "safe-to-run"\n'
        b'who = "Partner"\n'
    }
    pin = hashlib.sha256(content["body"]).hexdigest()
    with serve_get(lambda path: (200, content["body"])) as (base, _):
        url = f"{base}/audits.toml"
        (store / "imports.toml").write_text(
            f'[[import]]\nname = "partner"\nurl = "{url}"\nsha256 = "{pin}"\n'
        )
        assert audit_verdict(capsys, repo, "4.0") == (
            0,
            "audited 4.0 (safe-to-run, Partner, import partner)",
        )
        content["body"] = content["body"].replace(b"4.0", b"4.1")
        # The pinned copy is cached; the changed remote file is never fetched again.
        assert audit_verdict(capsys, repo, "4.0")[0] == 0
    assert audit_verdict(capsys, repo, "4.0")[0] == 0  # offline now, from the cache
    (store / "imports.toml").write_text(  # a new pin the cache cannot satisfy, offline
        f'[[import]]\nname = "partner"\nurl = "{url}"\nsha256 = "{"0" * 64}"\n'
    )
    code, err = audit_verdict(capsys, repo, "4.0")
    assert code == 4 and "download failed" in err


def test_certified_trusts_a_signature_by_a_trust_store_key(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import base64

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from triage.provenance.signing import artifact_signing_payload

    repo, store, keys = audited
    private = load_pem_private_key((keys / "alice.key").read_bytes(), password=None)
    evidence = tmp_path / "signatures"
    evidence.mkdir()
    filename, sha = "inhouse-1.0.tar.gz", "ef" * 32
    signature = private.sign(artifact_signing_payload(filename, sha))  # type: ignore[union-attr, call-arg]
    (evidence / f"{filename}.sig").write_text(
        json.dumps({"key": "ed25519:alice", "signature": base64.b64encode(signature).decode()})
    )
    lock(repo, ("inhouse", "1.0", filename, sha))
    code, verdicts, _ = check(capsys, repo, "certified", provenance=evidence)
    assert code == 0
    assert verdicts[filename] == ("trusted", "signed with ed25519:alice from trust-store/keys/")
    lock(repo, ("inhouse", "1.0", filename, "0" + sha[1:]))  # another digest
    code, verdicts, _ = check(capsys, repo, "certified", provenance=evidence)
    assert code == 1 and "signature does not match" in verdicts[filename][1]
    lock(repo, ("inhouse", "1.0", filename, sha))
    (store / "keys" / "alice.pub").unlink()
    code, verdicts, _ = check(capsys, repo, "certified", provenance=evidence)
    assert code == 1 and verdicts[filename][0] == "untrusted"


def test_a_changed_hash_fails_in_audit_mode_too(
    audited: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, store, keys = audited
    lock(repo, ("demo", "1.0", "demo-1.0.tar.gz", "cd" * 32))  # what is locked when certifying
    assert certify(capsys, store, keys, "demo==1.0") == 0
    assert f'sha256 = ["{"cd" * 32}"]' in (store / "audits.toml").read_text()
    assert audit_verdict(capsys, repo, "1.0")[0] == 0
    lock(repo, ("demo", "1.0", "demo-1.0.tar.gz", "ce" * 32))
    code, verdicts, _ = check(capsys, repo, "audit", provenance=PEP740)
    assert code == 1
    assert "lists other artifacts, not sha256:cecece" in verdicts["demo-1.0.tar.gz"][1]


def test_a_failing_index_is_asked_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock(tmp_path, *real_artifacts())
    with serve_get(lambda path: (503, b"")) as (url, asked):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, verdicts, err = check(capsys, tmp_path, "basic", provenance=None)
    assert code == 0 and len(asked) == 1
    assert "the index answered 503; provenance of 2 file(s) not checked" in err
    assert {v for v, _ in verdicts.values()} == {"unsigned"}


@pytest.mark.parametrize("index", ["refused", "silent"])
def test_an_unreachable_index_costs_one_timeout_and_unsigned_decides(
    index: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused connections end the lookups at once; an index that accepts and never answers
    after one timeout, not one per project (10 here). Either way [trust] unsigned decides."""
    many = [(f"project-{n}", "1.0", f"project_{n}-1.0.tar.gz", f"{n:064x}") for n in range(10)]
    lock(tmp_path, *many)
    monkeypatch.setenv("TRIAGE_INDEX_TIMEOUT", "0.5")
    with contextlib.ExitStack() as stack:
        accepted: list[object] = []
        if index == "refused":
            url = refusing_url()
        else:
            url, accepted = stack.enter_context(silent_server())  # type: ignore[assignment]
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code, verdicts, err = check(capsys, tmp_path, "basic", unsigned="deny", provenance=None)
    assert code == 1 and {v for v, _ in verdicts.values()} == {"unsigned"}
    assert "provenance of 10 file(s) not checked" in err and err.count("warning") == 1, err
    assert ("refused" in err) if index == "refused" else ("timed out" in err)
    assert len(accepted) == (0 if index == "refused" else 1)  # one wait, not one per project


def test_provenance_dir_names_the_files_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real folder holds files no verifier reads (.attestation, .sigstore, .slsa, the
    distributions list): they are named, not silently passed over."""
    lock(tmp_path, *real_artifacts())
    code, _, err = check(capsys, tmp_path, "basic")
    assert code in (0, 1)
    assert f"{PEP740}: 6 file(s) skipped, not named <artifact>.provenance" in err
    assert "distributions.json" in err and "pypi_attestations-0.0.19.tar.gz.slsa.attestation" in err


def test_audit_of_a_ref_and_diff_read_the_trust_store_trust_store_names_at_that_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--trust-store elsewhere` is honoured by every command, and a commit is judged by the
    trust store committed with it: `audit --ref` used the working tree's, and `scan` a
    hard-coded `trust-store/`."""
    from tests.gitrepos import GitRepo

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo = GitRepo(tmp_path / "repo")
    trusted = TRAIL_OF_BITS.format(workflow="release.yml")
    policy = '[advisories]\nsources = []\n[trust]\nmode = "certified"\nunsigned = "deny"\n'
    repo.commit("policy", {"deny.toml": policy, "elsewhere/publishers.toml": trusted})
    repo.branch("feature")
    lock(repo.root, ("pypi-attestations", "0.0.19", PYPI_ATTESTATIONS, DIGESTS[PYPI_ATTESTATIONS]))
    repo.commit("lock", {})
    (repo.root / "elsewhere" / "publishers.toml").write_text("")  # the working tree: nobody
    common = ["--db", str(tmp_path / "t.db"), "--trust-store", "elsewhere"]
    monkeypatch.chdir(repo.root)
    with serve_index(real_index()) as (url, _):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        code = main(["audit", ".", "--ref", "HEAD", *common])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        assert "trust (certified): 1 trusted, 0 untrusted, 0 unsigned" in err
        code = main(["diff", "--base", "main", "--head", "feature", *common, "--format", "json"])
        out, err = capsys.readouterr()
        assert code == 0 and json.loads(out)["trust"]["became_untrusted"] == [], err
        # The working tree's own (empty) store is what a working-tree audit judges with.
        code = main(["trust", "check", ".", *common, "--format", "json"])
        out, _ = capsys.readouterr()
        verdicts = [a["verdict"] for a in json.loads(out)["artifacts"]]
        assert code == 1 and verdicts == ["untrusted"]
