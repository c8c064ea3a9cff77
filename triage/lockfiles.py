"""Lockfile readers: requirements files, PEP 751 pylock.toml, uv.lock, poetry.lock, Pipfile.lock.

Files are only read: nothing is installed, resolved or executed. A requirement that does not
name exactly one version is reported as `Unpinned`, never resolved.

pip-audit (pinned to 2.10.1 in pyproject.toml) is the project's chosen reader. Its
`RequirementSource` does not serve here: with pip disabled it stops at the first unpinned line
instead of reporting each, evaluates markers against the running interpreter (silently dropping
lines meant for other platforms) and keeps neither hashes nor line numbers. So requirements
files go through the parser pip-audit itself builds on, `pip_requirements_parser`, imported
only in this module. pip-audit's `PyLockSource` keeps no artifact names or hashes (the trust
check needs them), drops markers and crashes on a version that is not PEP 440, so pylock.toml
has its own small reader below, as do the formats pip-audit does not read at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from triage.errors import LockfileError
from triage.models import Artifact, LockfileContents, Package, Unpinned

# Directories a repository walk never enters: tool state, virtualenvs, and test fixtures
# (which hold deliberately vulnerable lockfiles that are not the project's dependencies).
SKIPPED_DIRECTORIES = frozenset(
    {"node_modules", "__pycache__", "site-packages", "tests", "test", "testing", "fixtures"}
)
_PYLOCK_NAME = re.compile(r"(^|[_.-])pylock(\.[^./]+)?\.toml$")


def lockfile_format(path: Path) -> str | None:
    name = path.name
    if name.endswith("uv.lock"):
        return "uv"
    if name.endswith("poetry.lock"):
        return "poetry"
    if name.endswith("Pipfile.lock"):
        return "pipfile"
    if _PYLOCK_NAME.search(name) or name.startswith("pylock."):
        return "pylock" if name.endswith(".toml") else None
    if name.endswith(".txt"):
        return "requirements"
    if name.endswith("pyproject.toml"):
        return "pyproject"
    return None


def _discoverable(path: PurePath) -> bool:
    name = path.name
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml"):
        return True
    if name.startswith("pylock.") and name.endswith(".toml"):
        return True
    if name.endswith(".txt"):
        return name.startswith("requirements") or path.parent.name == "requirements"
    return False


def _skipped_directory(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRECTORIES


def is_lockfile_path(relative: PurePosixPath) -> bool:
    """Discovery's rule for a path inside a git tree (there is no pyvenv.cfg to look at)."""
    return _discoverable(relative) and not any(_skipped_directory(p) for p in relative.parts[:-1])


def discover(root: Path) -> list[Path]:
    """Lockfiles under the repository root, skipping hidden, virtualenv and fixture folders,
    and links that lead out of the root (a pull request may commit a symlink to ~/.netrc)."""
    inside = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _skipped_directory(d) and not (here / d / "pyvenv.cfg").exists()
        )
        found.extend(
            here / f
            for f in sorted(filenames)
            if _discoverable(here / f) and (here / f).resolve().is_relative_to(inside)
        )
    return found


def contents_to_json(contents: LockfileContents) -> str:
    return json.dumps(dataclasses.asdict(contents))


def contents_from_json(text: str, path: str) -> LockfileContents:
    """A cached reading, relabelled with the path the same blob has now (it may have moved)."""
    raw = json.loads(text)
    packages = tuple(
        Package(
            **{
                **p,
                "lockfile": path,
                "hashes": tuple(p["hashes"]),
                "artifacts": tuple(Artifact(**a) for a in p["artifacts"]),
                "extras": tuple(p["extras"]),
                "via": tuple(p["via"]),
            }
        )
        for p in raw["packages"]
    )
    unpinned = tuple(Unpinned(**{**u, "lockfile": path}) for u in raw["unpinned"])
    return LockfileContents(path, packages, unpinned)


def is_self_contained(contents: LockfileContents) -> bool:
    """True when everything came from the one file (no -r include), so its blob id is a key."""
    return all(p.lockfile == contents.path for p in contents.packages) and all(
        u.lockfile == contents.path for u in contents.unpinned
    )


def display_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def read_lockfile(path: Path, root: Path) -> LockfileContents:
    kind = lockfile_format(path)
    shown = display_path(path, root)
    if kind is None:
        raise LockfileError(
            f"{path}: not a lockfile name triage reads",
            hint="name it requirements*.txt, pylock.toml, pylock.<name>.toml, uv.lock, "
            "poetry.lock, Pipfile.lock or pyproject.toml",
        )
    if kind == "requirements":
        return _read_requirements(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"{path}: cannot be read: {exc}") from exc
    if kind == "pipfile":
        return _read_pipfile(text, path, shown)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockfileError(
            f"{path}: not valid TOML, so not a {path.name}: {exc}",
            hint="regenerate the lockfile with its tool, or pass the right file with --lockfile",
        ) from exc
    readers = {
        "pylock": _read_pylock,
        "uv": _read_uv,
        "poetry": _read_poetry,
        "pyproject": _read_pyproject,
    }
    return readers[kind](document, path, shown)


def _fail(path: Path, where: str, message: str) -> LockfileError:
    return LockfileError(
        f"{path}: {where}: {message}",
        hint="regenerate the lockfile with its tool, or pass the right file with --lockfile",
    )


def _name(entry: Mapping[str, Any], path: Path, where: str) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(path, where, "a package entry needs a 'name'")
    return name


def _table_list(document: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _fail(path, key, "expected an array of tables")
    return entries


def _artifact_from_url(url: Any, digest: str | None, filename: Any = None) -> Artifact | None:
    name = filename if isinstance(filename, str) else None
    if name is None and isinstance(url, str):
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1]) or None
    return Artifact(name, digest) if name else None


def _sha256(value: Any) -> str | None:
    """Hashes are written 'sha256:<hex>' (uv, poetry) or as a table {sha256 = ...} (pylock)."""
    if isinstance(value, Mapping):
        digest = value.get("sha256")
        return digest if isinstance(digest, str) else None
    if isinstance(value, str) and value.startswith("sha256:"):
        return value.removeprefix("sha256:")
    return None


def _reverse_graph(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, child in edges:
        parents[child].add(parent)
    return parents


def _pinned_version(specifier: SpecifierSet) -> str | None:
    """The one version `==X` or `===X` names; None for ranges, wildcards or nothing."""
    specs = list(specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    return specs[0].version


def _unpinned_reason(specifier: SpecifierSet) -> str:
    return f"not pinned to one version ({specifier or 'no version given'})"


# --- requirements files --------------------------------------------------------------------


_VIA_INLINE = re.compile(r"#\s*via\s+(.*)$")


def _via_annotations(lines: list[str], start: int) -> tuple[list[str], bool]:
    """pip-compile's `# via` for the requirement starting at 0-based line `start`: the names
    that pulled it in, and whether a `-r`/`-c` input file names it directly."""
    collected: list[str] = []
    index = start
    while index < len(lines) and lines[index].rstrip().endswith("\\"):
        index += 1
    inline = _VIA_INLINE.search(lines[index]) if index < len(lines) else None
    if inline:
        collected.extend(p.strip() for p in inline.group(1).split(","))
    index += 1
    block = False
    while index < len(lines) and lines[index].lstrip().startswith("#"):
        comment = lines[index].lstrip()[1:].strip()
        if comment.startswith("via"):
            block = True
            rest = comment[3:].strip()
            if rest:
                collected.append(rest)
        elif block and comment:
            collected.append(comment)
        index += 1
    direct = any(item.startswith(("-r", "-c")) for item in collected)
    names = [str(canonicalize_name(i.split()[0])) for i in collected if i and not i.startswith("-")]
    return names, direct


_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_OPTION = re.compile(r"\s--hash[=\s]\s*(\S+)")
_PLAIN_PIN = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*===?\s*[^\s;,*<>=!~]+\s*(;.*)?$"
)


@dataclass(frozen=True)
class _Requirement:
    """One requirement line, from either parser."""

    name: str
    specifier: SpecifierSet
    extras: tuple[str, ...]
    marker: str | None
    hashes: tuple[str, ...]
    filename: str
    line_number: int
    editable: bool = False
    url: bool = False


def _plain_requirements(path: Path, lines: list[str]) -> list[_Requirement] | None:
    """The fast path: a file whose every requirement is a plain pin (hashes, markers, extras
    and comments allowed). pip's option parser costs about half a millisecond a line, most of
    a 1,000-package scan; anything else (options, includes, URLs, -e) returns None."""
    found = []
    index = 0
    while index < len(lines):
        first = index
        logical = lines[index]
        while logical.rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            logical = logical.rstrip()[:-1] + " " + lines[index]
        index += 1
        text = _COMMENT.sub("", logical).strip()
        if not text:
            continue
        hashes = tuple(_HASH_OPTION.findall(" " + text))
        text = _HASH_OPTION.sub("", " " + text).strip()
        if not _PLAIN_PIN.match(text):
            return None
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return None
        found.append(
            _Requirement(
                req.name,
                req.specifier,
                tuple(sorted(req.extras)),
                str(req.marker) if req.marker else None,
                hashes,
                str(path),
                first + 1,
            )
        )
    return found


def _pip_requirements(path: Path, root: Path, seen: set[Path]) -> list[_Requirement]:
    """One file through pip's parser, then its `-r` includes, each checked to stay inside the
    scanned root: a pull request must not be able to make triage read (and print) files such as
    ~/.netrc. `-c` constraint files install nothing and are not read."""
    from pip_requirements_parser import RequirementsFile

    seen.add(path.resolve())
    try:
        parsed = RequirementsFile.from_file(str(path), include_nested=False)
    except Exception as exc:  # the parser raises bare Exceptions for unreadable files
        raise LockfileError(
            f"{path}: cannot be read as a requirements file: {exc}",
            hint="check the file's encoding, or pass the right file with --lockfile",
        ) from exc
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise LockfileError(
            f"{path}: line {bad.line_number}: not a requirement: {bad.error_message}",
            hint="fix the line, or pass the right file with --lockfile",
        )
    found = [
        _Requirement(
            name=req.name or req.requirement_line.line,
            specifier=req.specifier,
            extras=tuple(sorted(req.extras)),
            marker=str(req.marker) if req.marker else None,
            hashes=tuple(req.hash_options),
            filename=str(path),
            line_number=req.requirement_line.line_number,
            editable=bool(req.is_editable),
            url=req.link is not None or req.req is None,
        )
        for req in parsed.requirements
    ]
    for option in parsed.options:
        for target in option.options.get("requirements", []):
            where = f"{path}: line {option.requirement_line.line_number}: -r {target}"
            included = (path.parent / target).resolve()
            if not included.is_relative_to(root.resolve()):
                raise LockfileError(
                    f"{where} points outside {root}; includes are read only inside the "
                    "scanned repository",
                    hint="include files by a path inside the repository",
                )
            if not included.is_file():
                raise LockfileError(f"{where}: no such file", hint="fix the include's path")
            if included not in seen:
                found.extend(_pip_requirements(included, root, seen))
    return found


def _read_requirements(path: Path, root: Path) -> LockfileContents:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"{path}: cannot be read: {exc}") from exc
    lines = text.splitlines()
    requirements = _plain_requirements(path, lines)
    if requirements is None:
        requirements = _pip_requirements(path, root, set())
    raw_lines: dict[str, list[str]] = {str(path): lines}
    annotated: dict[str, bool] = {}
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    shown_paths: dict[str, str] = {}
    for req in requirements:
        if req.filename not in shown_paths:
            shown_paths[req.filename] = display_path(Path(req.filename), root)
        shown = shown_paths[req.filename]
        location = f"line {req.line_number}"
        name = canonicalize_name(req.name)
        if req.editable:
            unpinned.append(
                Unpinned(
                    name, shown, location, "editable requirement (-e): not a published release"
                )
            )
            continue
        if req.url:
            unpinned.append(
                Unpinned(
                    name,
                    shown,
                    location,
                    "URL requirement: its version is not known without fetching",
                )
            )
            continue
        version = _pinned_version(req.specifier)
        if version is None:
            unpinned.append(Unpinned(name, shown, location, _unpinned_reason(req.specifier)))
            continue
        if req.filename not in raw_lines:
            raw_lines[req.filename] = Path(req.filename).read_text(encoding="utf-8").splitlines()
        file_lines = raw_lines[req.filename]
        if req.filename not in annotated:
            annotated[req.filename] = any("# via" in line for line in file_lines)
        via, direct = _via_annotations(file_lines, req.line_number - 1)
        packages.append(
            Package(
                name=name,
                version=version,
                lockfile=shown,
                location=location,
                display_name=req.name,
                hashes=req.hashes,
                markers=req.marker,
                extras=req.extras,
                via=tuple(via),
                direct=(direct or not via) if annotated[req.filename] else None,
            )
        )
    return LockfileContents(display_path(path, root), tuple(packages), tuple(unpinned))


# --- PEP 751 pylock.toml -------------------------------------------------------------------


def _read_pylock(document: Mapping[str, Any], path: Path, shown: str) -> LockfileContents:
    if "lock-version" not in document:
        raise _fail(path, "lock-version", "missing: this is not a PEP 751 lockfile")
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for index, entry in enumerate(_table_list(document, "packages", path)):
        where = f"packages[{index}]"
        name = _name(entry, path, where)
        version = entry.get("version")
        if not isinstance(version, str):
            kind = next((k for k in ("vcs", "directory", "archive") if k in entry), None)
            reason = f"{kind} source without a version" if kind else "no version given"
            unpinned.append(Unpinned(canonicalize_name(name), shown, where, reason))
            continue
        artifacts = []
        for wheel in entry.get("wheels", []) or []:
            if isinstance(wheel, Mapping):
                found = _artifact_from_url(
                    wheel.get("url"), _sha256(wheel.get("hashes")), wheel.get("name")
                )
                artifacts.append(found)
        for key in ("sdist", "archive"):
            table = entry.get(key)
            if isinstance(table, Mapping):
                artifacts.append(
                    _artifact_from_url(
                        table.get("url"), _sha256(table.get("hashes")), table.get("name")
                    )
                )
        marker = entry.get("marker")
        packages.append(
            Package(
                name=canonicalize_name(name),
                version=version,
                lockfile=shown,
                location=where,
                display_name=name,
                artifacts=tuple(dict.fromkeys(a for a in artifacts if a is not None)),
                markers=marker if isinstance(marker, str) else None,
            )
        )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


# --- uv.lock -------------------------------------------------------------------------------

_UV_LOCAL_SOURCES = ("editable", "virtual", "directory")


def _read_uv(document: Mapping[str, Any], path: Path, shown: str) -> LockfileContents:
    if "version" not in document:
        raise _fail(path, "version", "missing: this is not a uv.lock")
    entries = _table_list(document, "package", path)
    members: set[str] = set()
    edges: list[tuple[str, str]] = []
    for index, entry in enumerate(entries):
        name = canonicalize_name(_name(entry, path, f"package[{index}]"))
        source = entry.get("source", {})
        if isinstance(source, Mapping) and any(k in source for k in _UV_LOCAL_SOURCES):
            members.add(name)
        groups = [entry.get("dependencies", [])]
        for extra in ("optional-dependencies", "dev-dependencies"):
            table = entry.get(extra, {})
            if isinstance(table, Mapping):
                groups.extend(table.values())
        for group in groups:
            for dep in group if isinstance(group, list) else []:
                if isinstance(dep, Mapping) and isinstance(dep.get("name"), str):
                    edges.append((name, canonicalize_name(dep["name"])))
    parents = _reverse_graph(edges)
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for index, entry in enumerate(entries):
        where = f"package[{index}]"
        raw_name = _name(entry, path, where)
        name = canonicalize_name(raw_name)
        version = entry.get("version")
        source = entry.get("source", {})
        local = isinstance(source, Mapping) and next(
            (k for k in _UV_LOCAL_SOURCES if k in source), None
        )
        if local or not isinstance(version, str):
            reason = f"{local} source: not a published release" if local else "no version given"
            unpinned.append(Unpinned(name, shown, where, reason))
            continue
        artifacts = []
        sdist = entry.get("sdist")
        if isinstance(sdist, Mapping):
            artifacts.append(_artifact_from_url(sdist.get("url"), _sha256(sdist.get("hash"))))
        for wheel in entry.get("wheels", []) or []:
            if isinstance(wheel, Mapping):
                artifacts.append(_artifact_from_url(wheel.get("url"), _sha256(wheel.get("hash"))))
        via = tuple(sorted(parents.get(name, set())))
        packages.append(
            Package(
                name=name,
                version=version,
                lockfile=shown,
                location=where,
                display_name=raw_name,
                artifacts=tuple(dict.fromkeys(a for a in artifacts if a is not None)),
                via=via,
                direct=bool(members.intersection(via)) if members else None,
            )
        )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


# --- poetry.lock ---------------------------------------------------------------------------


def _read_poetry(document: Mapping[str, Any], path: Path, shown: str) -> LockfileContents:
    if "package" not in document and "metadata" not in document:
        raise _fail(path, "package", "missing: this is not a poetry.lock")
    entries = _table_list(document, "package", path)
    metadata = document.get("metadata", {})
    legacy_files = metadata.get("files", {}) if isinstance(metadata, Mapping) else {}
    edges: list[tuple[str, str]] = []
    for index, entry in enumerate(entries):
        deps = entry.get("dependencies", {})
        name = canonicalize_name(_name(entry, path, f"package[{index}]"))
        if isinstance(deps, Mapping):
            edges.extend((name, canonicalize_name(dep)) for dep in deps)
    parents = _reverse_graph(edges)
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for index, entry in enumerate(entries):
        where = f"package[{index}]"
        raw_name = _name(entry, path, where)
        name = canonicalize_name(raw_name)
        version = entry.get("version")
        source = entry.get("source", {})
        source_type = source.get("type") if isinstance(source, Mapping) else None
        if source_type == "directory" or not isinstance(version, str):
            reason = "directory source: not a published release" if version else "no version given"
            unpinned.append(Unpinned(name, shown, where, reason))
            continue
        files = entry.get("files")
        if files is None and isinstance(legacy_files, Mapping):
            files = legacy_files.get(raw_name, legacy_files.get(name, []))
        artifacts = [
            Artifact(f["file"], _sha256(f.get("hash")))
            for f in files or []
            if isinstance(f, Mapping) and isinstance(f.get("file"), str)
        ]
        packages.append(
            Package(
                name=name,
                version=version,
                lockfile=shown,
                location=where,
                display_name=raw_name,
                artifacts=tuple(artifacts),
                markers=entry.get("marker") if isinstance(entry.get("marker"), str) else None,
                via=tuple(sorted(parents.get(name, set()))),
            )
        )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


# --- pyproject.toml (only when named with --lockfile) ------------------------------------


def _read_pyproject(document: Mapping[str, Any], path: Path, shown: str) -> LockfileContents:
    """Exact `==` pins in PEP 621 dependencies and extras and PEP 735 dependency groups; every
    range is reported as unpinned. Not a lockfile, so discovery never picks it up."""
    project = document.get("project", {})
    sections: list[tuple[str, Any]] = [("project.dependencies", project.get("dependencies", []))]
    sections += [
        (f"project.optional-dependencies.{k}", v)
        for k, v in project.get("optional-dependencies", {}).items()
    ]
    sections += [
        (f"dependency-groups.{k}", v) for k, v in document.get("dependency-groups", {}).items()
    ]
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for section, specs in sections:
        if not isinstance(specs, list):
            raise _fail(path, section, "expected an array of requirement strings")
        for index, spec in enumerate(specs):
            where = f"{section}[{index}]"
            if not isinstance(spec, str):
                continue  # {include-group = "..."}: its entries are read in their own group
            try:
                req = Requirement(spec)
            except InvalidRequirement as exc:
                raise _fail(path, where, f"not a PEP 508 requirement: {exc}") from exc
            name = canonicalize_name(req.name)
            version = None if req.url else _pinned_version(req.specifier)
            if version is None:
                unpinned.append(Unpinned(name, shown, where, _unpinned_reason(req.specifier)))
                continue
            packages.append(
                Package(
                    name=name,
                    version=version,
                    lockfile=shown,
                    location=where,
                    display_name=req.name,
                    markers=str(req.marker) if req.marker else None,
                    extras=tuple(sorted(req.extras)),
                    direct=True,
                )
            )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


# --- Pipfile.lock --------------------------------------------------------------------------


def _read_pipfile(text: str, path: Path, shown: str) -> LockfileContents:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockfileError(
            f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON, so not a "
            f"Pipfile.lock: {exc.msg}",
            hint="regenerate it with `pipenv lock`, or pass the right file with --lockfile",
        ) from exc
    if not isinstance(document, dict) or not ({"default", "develop", "_meta"} & document.keys()):
        raise _fail(path, "(top level)", "expected the 'default' and 'develop' sections")
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for section in ("default", "develop"):
        entries = document.get(section, {})
        if not isinstance(entries, dict):
            raise _fail(path, section, "expected a table of packages")
        for raw_name, entry in entries.items():
            where = f"{section}.{raw_name}"
            name = canonicalize_name(raw_name)
            version = entry.get("version") if isinstance(entry, dict) else None
            if not isinstance(version, str) or not version.startswith("=="):
                kind = next(
                    (
                        k
                        for k in ("git", "path", "file", "editable")
                        if isinstance(entry, dict) and k in entry
                    ),
                    None,
                )
                reason = (
                    f"{kind} requirement without a pinned version"
                    if kind
                    else f"not pinned to one version ({version or 'no version given'})"
                )
                unpinned.append(Unpinned(name, shown, where, reason))
                continue
            hashes = entry.get("hashes", [])
            packages.append(
                Package(
                    name=name,
                    version=version.removeprefix("=="),
                    lockfile=shown,
                    location=where,
                    display_name=raw_name,
                    hashes=tuple(h for h in hashes if isinstance(h, str)),
                    markers=entry.get("markers") if isinstance(entry.get("markers"), str) else None,
                )
            )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))


def direct_names(pyproject_text: str) -> set[str]:
    """Names a pyproject.toml depends on directly: PEP 621 dependencies and extras, PEP 735
    dependency groups, Poetry's dependency tables. Unreadable text names nothing."""
    try:
        document = tomllib.loads(pyproject_text)
    except tomllib.TOMLDecodeError:
        return set()
    specs: list[Any] = []
    project = document.get("project", {})
    specs += project.get("dependencies", [])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    for group in document.get("dependency-groups", {}).values():
        specs += group
    names: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            try:
                names.add(canonicalize_name(Requirement(spec).name))
            except InvalidRequirement:
                continue
    poetry = document.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables += [g.get("dependencies", {}) for g in poetry.get("group", {}).values()]
    for table in tables:
        names.update(canonicalize_name(n) for n in table if n.lower() != "python")
    return names
