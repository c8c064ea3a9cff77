"""Hostile bytes (SPEC §3, DESIGN.md): every real lockfile in ../shared/data/lockfiles and a
real deny.toml, mutated (truncation, byte flips, other encodings, type swaps, deep nesting,
huge numbers), through the CLI. Each case ends in exit 0, 1 or 2 with no traceback."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from tests.conftest import LOCKFILES, REPOSITORY
from tests.fuzzing import MUTATIONS, mutate, seed_corpus
from triage.cli import main

CASES_PER_FORMAT = 210  # 35 of each of the six kinds of mutation
FORMATS = {
    "requirements": ("text", sorted(LOCKFILES.rglob("*.txt"))),
    "pylock.toml": ("toml", sorted(LOCKFILES.glob("*pylock*.toml"))),
    "uv.lock": ("toml", sorted(LOCKFILES.glob("*uv.lock"))),
    "poetry.lock": ("toml", sorted(LOCKFILES.glob("*poetry.lock"))),
    "Pipfile.lock": ("json", sorted(LOCKFILES.glob("*Pipfile.lock"))),
    "pyproject.toml": ("toml", sorted(LOCKFILES.glob("*pyproject.toml"))),
}
LOCK_NAMES = {
    "requirements": "requirements.txt",
    "pylock.toml": "pylock.toml",
    "uv.lock": "uv.lock",
    "poetry.lock": "poetry.lock",
    "Pipfile.lock": "Pipfile.lock",
    "pyproject.toml": "pyproject.toml",
}


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


def test_every_kind_of_mutation_is_exercised() -> None:
    assert CASES_PER_FORMAT % len(MUTATIONS) == 0 and len(MUTATIONS) == 6
    assert all(files for _, files in FORMATS.values())


@pytest.mark.parametrize("name", list(FORMATS))
def test_mutated_lockfiles_end_in_a_message_not_a_traceback(
    name: str, synced_db: Path, tmp_path: Path
) -> None:
    kind, files = FORMATS[name]
    target = tmp_path / LOCK_NAMES[name]
    seen: dict[int, int] = {}
    corpora = [seed_corpus(real.read_bytes(), kind, keep=10) for real in files]
    for index in range(CASES_PER_FORMAT):
        real, data = files[index % len(files)], corpora[index % len(files)]
        case, mutated = mutate(data, kind, index, seed=index // len(files))
        target.write_bytes(mutated)
        scan = ["scan", str(tmp_path), "--lockfile", str(target), "--db", str(synced_db), "-q"]
        code, err = run(*scan)
        assert code in (0, 1, 2) and "Traceback" not in err, (real.name, case, err)
        if code == 2:
            assert f"{target}" in err, (real.name, case, err)  # the message names the file
        seen[code] = seen.get(code, 0) + 1
    assert seen.get(2, 0) > 0 and seen.get(0, 0) + seen.get(1, 0) > 0, seen


def test_a_mutated_deny_toml_ends_in_a_message_not_a_traceback(
    synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("click==8.1.7\n")
    config = tmp_path / "deny.toml"
    sources = [REPOSITORY / "tests" / "fixtures" / "deny-commented.toml", REPOSITORY / "deny.toml"]
    for index in range(CASES_PER_FORMAT):
        real = sources[index % len(sources)]
        case, mutated = mutate(real.read_bytes(), "toml", index, seed=7)
        config.write_bytes(mutated)
        scan = ["scan", str(tmp_path), "--config", str(config), "--db", str(synced_db), "-q"]
        code, err = run(*scan)
        assert code in (0, 1, 2) and "Traceback" not in err, (real.name, case, err)


# What an output must never pass on as written: a terminal's escape sequence (here, one that
# would clear the screen), a carriage return, NUL, a bell, a bidirectional override, a line
# separator, a lone surrogate (JSON may hold one, no UTF-8 output can).
HOSTILE = "\x1b[2J\r\x00\x07\u202e\u2028\ud800"
RAW = {"\x1b", "\r", "\x00", "\x07", "\u202e", "\u2028", "\ud800"}


def shows_as_written(text: str) -> bool:
    return not RAW & set(text)


def test_hostile_strings_reach_every_output_format_as_valid_documents(
    synced_db: Path, tmp_path: Path
) -> None:
    """Hostile characters in a package name (Pipfile.lock's JSON can hold any), an ignore's
    reason and its issue's text reach scan (text, JSON, markdown, SARIF), the SBOM (CycloneDX
    JSON and XML) and stats (HTML): each is a valid document of its format, validated with its
    own parser or schema, and nothing reaches it unspelled."""
    import json as jsonlib
    from html.parser import HTMLParser
    from xml.etree import ElementTree

    import jsonschema
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from tests.conftest import SHARED_DATA

    name = f"urllib3{HOSTILE}"
    lock = {
        "_meta": {},
        "default": {"urllib3": {"version": "==2.0.0"}, name: {"version": "==1.0"}},
        "develop": {},
    }
    (tmp_path / "Pipfile.lock").write_text(jsonlib.dumps(lock))  # \ud800 as JSON escapes it
    reason = "".join(f"\\u{ord(c):04x}" for c in HOSTILE if ord(c) < 0xD800)  # TOML escapes
    (tmp_path / "deny.toml").write_text(
        "[advisories]\nignore = [{ id = 'PYSEC-2023-212', "
        f'reason = "a{reason}b", issue = "https://x.example/1" }}]\n'
    )
    common = [str(tmp_path), "--db", str(synced_db), "--config", str(tmp_path / "deny.toml")]
    outputs: dict[str, str] = {}

    def output(*argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(list(argv))
        assert code in (0, 1) and shows_as_written(err.getvalue()), (argv, err.getvalue())
        return out.getvalue()

    for fmt in ("text", "json", "markdown", "sarif"):
        outputs[fmt] = output("scan", *common, "--format", fmt)
    outputs["cyclonedx"] = output("sbom", *common)
    outputs["cyclonedx-xml"] = output("sbom", *common, "--format", "cyclonedx-xml")
    for fmt, text in outputs.items():
        assert shows_as_written(text), fmt
    assert "ignore: a\\x1b[2J\\x0d\\x00\\x07\\u202e\\u2028b" in outputs["text"]
    for fmt in ("json", "sarif", "cyclonedx"):
        jsonlib.loads(outputs[fmt])
    schema = jsonlib.loads((SHARED_DATA / "sarif" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(jsonlib.loads(outputs["sarif"]), schema)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(outputs["cyclonedx"]) is None
    ElementTree.fromstring(outputs["cyclonedx-xml"])
    assert "accepted risk: a\\x1b[2J\\x0d\\x00\\x07\\u202e\\u2028b" in outputs["cyclonedx-xml"]

    assert output("audit", *common) is not None  # records findings for the rotation's HTML
    page = output("stats", "--db", str(synced_db), "--format", "html")
    HTMLParser().feed(page)
    assert shows_as_written(page)


def test_hostile_answers_from_the_index_end_in_a_verdict_not_a_traceback(
    synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyPI's JSON answers, as a hostile or broken index might send them, and license fields
    built to break a parser (a 1,000-deep expression): `licenses check` judges each (unknown,
    not judged, or its license), online and again from the cache with --offline; every
    output format stays a valid document."""
    import json as jsonlib

    from tests.http_stub import serve_get

    deep = "(" * 1000 + "MIT" + ")" * 1000
    answers: dict[str, bytes] = {
        "deep-json": b'{"info": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "deep-license": jsonlib.dumps({"info": {"license": deep}}).encode(),
        "deep-expression": jsonlib.dumps({"info": {"license_expression": deep}}).encode(),
        "long-or": jsonlib.dumps({"info": {"license": " OR ".join(["MIT"] * 5000)}}).encode(),
        "controls": jsonlib.dumps({"info": {"license": f"MIT{HOSTILE}"}}).encode(),
        "surrogate": b'{"info": {"license": "\\ud800", "classifiers": ["License :: \\udfff"]}}',
        "not-object": b"[1, 2, 3]",
        "info-list": b'{"info": [1]}',
        "huge-number": b'{"info": {"license": ' + b"9" * 100_000 + b"}}",
        "not-json": b"\xff\xfe<html>",
        "classifier-types": b'{"info": {"classifiers": [1, null, {"a": 1}]}}',
    }

    def answer(path: str) -> tuple[int, bytes]:
        name = path.split("/")[2]
        return (200, answers[name]) if name in answers else (404, b"{}")

    (tmp_path / "requirements.txt").write_text("".join(f"{n}==1.0\n" for n in answers))
    (tmp_path / "deny.toml").write_text('[licenses]\nallow = ["MIT"]\n')
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    check = ["licenses", "check", str(tmp_path), "--db", str(db)]
    with serve_get(answer) as (url, asked):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        for offline in ([], ["--offline"]):
            for fmt in ("text", "json"):
                out, err = io.StringIO(), io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    code = main([*check, "--format", fmt, *offline])
                said = out.getvalue() + err.getvalue()
                assert code in (0, 1) and "Traceback" not in said, (offline, fmt, said)
                assert shows_as_written(said)
                if fmt == "json":
                    verdicts = {
                        p["name"]: p["verdict"] for p in jsonlib.loads(out.getvalue())["packages"]
                    }
                    assert set(verdicts) == {n.replace("_", "-") for n in answers}
                    assert verdicts["deep-license"] == verdicts["deep-expression"] == "unknown"
    assert len(asked) == len(answers)  # each asked once; the rest came from the cache


def test_mutated_witness_files_end_in_a_message_not_a_traceback(
    synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real signed witness, mutated every way the lockfiles are (and its statement inside
    too): `witness verify` refuses each with exit 1 (a mismatch, a signature) or 2 (not a
    witness), never a traceback, never a pass."""
    import base64
    import json as jsonlib

    from tests.gitrepos import GitRepo

    repo = GitRepo(tmp_path / "repo")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(repo.root)
    assert main(["trust", "keygen", "ci"]) == 0
    repo.commit("lock", {"requirements.txt": "urllib3==2.0.0\n"})
    common = ["--db", str(synced_db)]
    assert run("scan", "--witness", "w.json", "--witness-key", "ci", *common)[0] == 1
    real = (repo.root / "w.json").read_bytes()
    envelope = jsonlib.loads(real)
    payload = base64.b64decode(envelope["payload"])
    seen: dict[int, int] = {}
    for index in range(60):
        case, mutated = mutate(real, "json", index, seed=11)
        if index % 2:  # the statement inside the envelope, re-encoded
            case, inner = mutate(payload, "json", index, seed=13)
            mutated = jsonlib.dumps(
                {**envelope, "payload": base64.b64encode(inner).decode()}
            ).encode()
        (repo.root / "m.json").write_bytes(mutated)
        code, err = run("witness", "verify", "m.json", *common)
        unchanged = mutated == real  # ASCII re-encoded is the same file: it verifies, rightly
        assert code in ((0,) if unchanged else (1, 2)) and "Traceback" not in err, (case, err)
        seen[code] = seen.get(code, 0) + 1
    assert seen.get(1, 0) and seen.get(2, 0), seen


def test_mutated_project_pages_are_read_or_refused_never_a_traceback() -> None:
    """The index's PEP 691 pages are hostile input too: a page built from InvokeAI's locked
    files (provenance URLs, yanked reasons, a project status), mutated every way, is read
    (and kept and read back the same) or refused as the index failing (UpstreamError)."""
    import json

    from triage.errors import UpstreamError
    from triage.lockfiles import read_lockfile
    from triage.provenance import index

    lock = LOCKFILES / "invoke-ai__InvokeAI__uv.lock"
    files = [
        {
            "filename": a.filename,
            "hashes": {"sha256": a.sha256},
            "provenance": f"/integrity/{a.filename}/provenance" if n % 3 == 0 else None,
            **({"yanked": "broken build" if n % 2 else True} if n % 7 == 0 else {}),
        }
        for n, a in enumerate(
            a for p in read_lockfile(lock, lock.parent).packages[:12] for a in p.artifacts
        )
    ]
    page = {
        "meta": {"api-version": "1.4"},
        "name": "torch",
        "project-status": {"status": "deprecated", "reason": "use torch2"},
        "files": files,
    }
    data = json.dumps(page).encode()
    url = "https://pypi.example/simple/torch/"
    read = refused = 0
    for case in range(CASES_PER_FORMAT):
        name, mutated = mutate(data, "json", case, seed=case)
        try:
            found = index.read_page(mutated, url, etag='"e"')
        except UpstreamError:
            refused += 1
            continue
        read += 1
        assert index.page_from_json(index.page_json(found), '"e"') == found, name
    assert read and refused  # both outcomes exercised


def test_the_fix_s_text_edits_read_mutated_real_files_and_touch_one_pin_only() -> None:
    """What `triage fix` edits is hostile too: the real requirements files, mutated every way,
    have their header read (or not) and each pin moved without a traceback; a moved pin
    changes the lines of that requirement and no other line."""
    from triage.core import pins
    from triage.lockfiles import read_lockfile

    checked = 0
    for source in sorted(LOCKFILES.rglob("*.txt"))[:4]:
        data = source.read_bytes()
        for case in range(CASES_PER_FORMAT // 6):
            _, mutated = mutate(data, "text", case, seed=case)
            text = mutated.decode("utf-8", "replace")
            pins.compiled_header(text)
            pins.points_elsewhere(text)
            lines = text.splitlines(keepends=True)
            for number, line in enumerate(lines[:40], 1):
                name, _, version = line.split(";")[0].split("#")[0].partition("==")
                if not version.strip():
                    continue
                pin = (name.strip().lower(), version.split()[0] if version.split() else "", "9")
                moved = pins.repin(text, number, pin, hashes=["sha256:" + "0" * 64])
                if moved is None:
                    continue
                span = pins.logical_line(lines, number - 1)
                after = moved.splitlines(keepends=True)
                assert lines[: span.start] == after[: span.start]
                tail = len(lines) - span.stop
                assert tail == 0 or lines[span.stop :] == after[len(after) - tail :]
                checked += 1
        read_lockfile(source, source.parent)
    assert checked > 50
    for requirement in ("alpha==1.0", "alpha>=1,<2", "alpha~=1.0.0", "al pha", "alpha[x]==", ""):
        pins.relaxed(requirement, "alpha", "2.0")
