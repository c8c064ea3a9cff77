"""The text of a fix: a hand-pinned requirement moved to another version (its `--hash` lines
from the index), a compiled file's header read for the command that made it, a manifest's
requirement widened to admit a fixing version. Pure functions of text: every line an edit does
not concern is kept byte for byte."""

from __future__ import annotations

import contextlib
import posixpath
import re
import shlex
import tomllib
from collections.abc import Sequence
from typing import Any

from msgspec import Struct
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

from triage.core.matching import normalize_name

# --- hand-pinned requirements -----------------------------------------------------------------

_HASH = re.compile(r"\s*--hash[=\s]\s*\S+")
_COMMENT = re.compile(r"(?:^|\s+)#.*$", re.MULTILINE)
_CONTINUED = re.compile(r"\\\r?\n?$")


def logical_line(lines: Sequence[str], first: int) -> range:
    """The physical lines (0-based) of the requirement starting at `first`: it and every line
    its trailing backslashes continue onto."""
    end = first
    while end < len(lines) - 1 and _CONTINUED.search(lines[end].rstrip(" \t")):
        end += 1
    return range(first, end + 1)


def repin(
    text: str, line_number: int, pin: tuple[str, str, str], *, hashes: Sequence[str] | None
) -> str | None:
    """The requirements text with the pin at `line_number` (1-based) moved (`pin`: name,
    before, after); its `--hash` options replaced by `hashes` (None: it keeps none). None when
    that line does not pin `name` at `before`."""
    name, before, after = pin
    lines = text.splitlines(keepends=True)
    if not 0 < line_number <= len(lines):
        return None
    span = logical_line(lines, line_number - 1)
    head = lines[span.start]
    pinned = re.compile(
        r"^(\s*)([A-Za-z0-9][A-Za-z0-9._-]*)(\s*\[[^\]]*\])?(\s*===?\s*)"
        + re.escape(before)
        + r"(?![\w.+!-])"
    )
    found = pinned.match(head)
    if found is None or normalize_name(found.group(2)) != name:
        return None
    edited = [head[: found.end() - len(before)] + after + head[found.end() :]]
    edited += [lines[i] for i in span[1:]]
    if hashes is not None:
        edited = _rehashed(edited, hashes)
    return "".join([*lines[: span.start], *edited, *lines[span.stop :]])


def _rehashed(physical: list[str], hashes: Sequence[str]) -> list[str]:
    """The logical line with its hashes replaced, written as the old ones were: one to a
    continuation line at their indent (as pip-compile and uv write them), or on the line."""
    newline = "\r\n" if physical[0].endswith("\r\n") else "\n"
    first, *rest = (line.rstrip("\r\n") for line in physical)
    own = [line for line in rest if line.lstrip().startswith("--hash")]
    if own:
        indent = own[0][: len(own[0]) - len(own[0].lstrip())]
        others = [_uncontinued(line) for line in rest if not line.lstrip().startswith("--hash")]
        body = [_uncontinued(_HASH.sub("", first)), *others]
        body += [f"{indent}--hash={digest}" for digest in hashes]
        return [f"{line} \\{newline}" for line in body[:-1]] + [body[-1] + newline]
    commented = _COMMENT.search(first)
    code = first[: commented.start()] if commented else first
    continued = code.rstrip().endswith("\\")
    code = _uncontinued(_HASH.sub("", code))
    line = " ".join([code, *(f"--hash={digest}" for digest in hashes)])
    line += (" \\" if continued else "") + (commented.group() if commented else "")
    return [line + newline, *physical[1:]]


def _uncontinued(line: str) -> str:
    return line.rstrip().removesuffix("\\").rstrip()


# --- compiled requirements ----------------------------------------------------------------------

COMPILERS = ("uv pip compile", "pip-compile")
# Options a recompile carries over: they shape the output, never where packages come from.
_FLAGS = frozenset(
    {
        "--generate-hashes",
        "--universal",
        "--all-extras",
        "--strip-extras",
        "--no-strip-extras",
        "--no-annotate",
        "--no-header",
        "--allow-unsafe",
        "--no-emit-index-url",
        "--emit-index-url",
        "--no-emit-trusted-host",
        "--no-emit-options",
        "--emit-options",
    }
)
_VALUED = frozenset({"--python-version", "--extra", "--annotation-style", "--python-platform"})
_OUTPUT = frozenset({"-o", "--output-file"})
_IGNORED = frozenset({"--resolver", "-q", "--quiet", "-v", "--verbose"})


class Compiled(Struct, frozen=True):
    """How a compiled requirements file says it was made."""

    tool: str  # "uv pip compile" or "pip-compile"
    command: str  # as the header writes it
    sources: tuple[str, ...]  # the input files, relative to the file's folder
    options: tuple[str, ...]  # carried over to the recompile
    refused: str | None  # why it cannot be recompiled by triage (an option it does not carry)


def compiled_header(text: str) -> Compiled | None:
    """The command in a uv or pip-tools header; None for a file without one (hand-pinned)."""
    head = []
    for line in text.splitlines()[:12]:
        if not line.startswith("#"):
            break
        head.append(line.lstrip("# ").strip())
    joined = "\n".join(head)
    if "autogenerated by uv" not in joined and "autogenerated by pip-compile" not in joined:
        return None
    exported = next((h for h in head if h.startswith("uv export")), None)
    if exported is not None:
        return Compiled("uv export", exported, (), (), "it is exported from uv.lock")
    command = next((h for h in head if h.startswith(COMPILERS)), None)
    if command is None:
        return Compiled("pip-compile", "", (), (), "its header does not name the command")
    tool = "uv pip compile" if command.startswith("uv pip compile") else "pip-compile"
    try:
        words = shlex.split(command.removeprefix(tool))
    except ValueError:
        return Compiled(tool, command, (), (), "its header's command cannot be read")
    sources: list[str] = []
    options: list[str] = []
    refused = None
    index = 0
    while index < len(words):
        word = words[index]
        option, has_value, value = word.partition("=")
        if not word.startswith("-"):
            sources.append(word)
        elif option in _OUTPUT or option in _VALUED or option in _IGNORED:
            if not has_value and option not in {"-q", "--quiet", "-v", "--verbose"}:
                index += 1
                value = words[index] if index < len(words) else ""
            if option in _VALUED:
                options += [option, value]
        elif word in _FLAGS:
            options.append(word)
        else:
            refused = refused or f"its command has {option}, which triage does not carry over"
        index += 1
    for source in sources:
        if not source or posixpath.isabs(source) or ".." in source.split("/"):
            refused = refused or f"its input {source!r} is not a file beside it"
    if not sources:
        refused = refused or "its command names no input file"
    return Compiled(tool, command, tuple(sources), tuple(options), refused)


def header_lines(text: str) -> str:
    """The leading comment block a compiler wrote."""
    lines = text.splitlines(keepends=True)
    count = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[:count])


def with_header(compiled_text: str, header: str) -> str:
    """A recompiled file under the original's header (the recompile ran from elsewhere and
    would name its own paths)."""
    return header + compiled_text[len(header_lines(compiled_text)) :]


_ELSEWHERE = re.compile(
    r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host|-e|--editable)\b"
    r"|://|^\s*[^#\s]*\s*@\s|^\s*[./~]",
    re.MULTILINE,
)
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)[=\s]\s*(\S+)", re.MULTILINE)


def points_elsewhere(text: str) -> bool:
    """Whether a requirements input makes a resolver look beyond triage's index: an index or
    links option, a URL, a direct reference, a local path or an editable (triage resolves
    against its own index, never one a repository names, and builds nothing). Comments say
    nothing."""
    return _ELSEWHERE.search(_COMMENT.sub("", text)) is not None


_INDEX_OPTION = re.compile(
    r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links)\b", re.MULTILINE
)


def names_an_index(text: str) -> bool:
    """Whether a requirements file says where its packages come from (its pins and hashes
    are that index's, which may not be triage's)."""
    return _INDEX_OPTION.search(_COMMENT.sub("", text)) is not None


def included(text: str) -> list[str]:
    """The files a requirements input includes (`-r`) or constrains with (`-c`), as written."""
    return _INCLUDE.findall(text)


def manifest_points_elsewhere(text: str) -> bool:
    """A pyproject.toml named as a compile input: its own uv sources or indexes, or a
    dependency that is a URL."""
    return resolves_elsewhere(text) is not None


# --- manifests (relax) -------------------------------------------------------------------------


def relaxed(requirement: str, package: str, target: str) -> str | None:
    """`requirement` widened just enough to admit `target` when it names `package` and forbids
    it: an exact pin moves to the target, a compatible release keeps its precision, an upper
    bound or exclusion in the way is dropped (and a lower bound of the target added in its
    place). None when the requirement is not on `package` or already admits `target`."""
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    version = Version(target)
    if normalize_name(parsed.name) != package or parsed.specifier.contains(version, True):
        return None
    kept: list[str] = []
    lowered = False
    for clause in parsed.specifier:
        if clause.contains(version, prereleases=True):
            kept.append(str(clause))
        elif clause.operator in ("==", "==="):
            kept.append(f"=={target}")
            lowered = True
        elif clause.operator == "~=":
            precision = len(Version(clause.version).release)
            kept.append(
                f"~={'.'.join(str(p) for p in (*version.release, 0, 0)[: max(precision, 2)])}"
            )
            lowered = True
        elif clause.operator in (">", ">="):
            kept.append(str(clause))
    if not lowered:  # the target is the new floor: lower ones say nothing more
        kept = [c for c in kept if Specifier(c).operator not in (">", ">=")] + [f">={target}"]
    kept = [c for c in kept if Specifier(c).contains(version, prereleases=True)] or [f">={target}"]
    parsed.specifier = SpecifierSet(",".join(kept))
    return str(parsed)


# --- uv.lock ------------------------------------------------------------------------------------


def uv_lock_sources(text: str) -> tuple[set[str], list[str]]:
    """The registries a uv.lock's packages were locked from, and the packages locked from
    anywhere else (a URL, git, a path): re-locking would fetch or read what those name."""
    try:
        document: Any = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return set(), []
    registries: set[str] = set()
    elsewhere: list[str] = []
    for package in document.get("package", []) if isinstance(document, dict) else []:
        source = package.get("source") if isinstance(package, dict) else None
        if not isinstance(source, dict):
            continue
        if isinstance(source.get("registry"), str):
            registries.add(source["registry"].rstrip("/"))
        elif source not in ({"virtual": "."}, {"editable": "."}):
            elsewhere.append(str(package.get("name")))
    return registries, elsewhere


_URL_REQUIREMENT = re.compile(r"@\s*\S|://")


def _requirements(document: dict[str, Any]) -> list[Any]:
    """Every requirement string a pyproject.toml gives uv: the project's, its extras', its
    dependency groups', and [tool.uv]'s dev, override and constraint dependencies."""
    project = document.get("project", {})
    project = project if isinstance(project, dict) else {}
    tool = document.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, dict) else {}
    uv = uv if isinstance(uv, dict) else {}
    lists = [project.get("dependencies")]
    for table in (project.get("optional-dependencies"), document.get("dependency-groups")):
        lists += list(table.values()) if isinstance(table, dict) else []
    lists += [uv.get(k) for k in ("dev-dependencies", "override-dependencies",
                                   "constraint-dependencies")]  # fmt: skip
    return [item for found in lists if isinstance(found, list) for item in found]


def resolves_elsewhere(pyproject_text: str) -> str | None:
    """What in a pyproject.toml makes uv look beyond triage's index (its own indexes,
    sources, a workspace, a requirement that is a URL); None when nothing does."""
    try:
        document: Any = tomllib.loads(pyproject_text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return "pyproject.toml is not TOML triage reads"
    if not isinstance(document, dict):
        return None
    tool = document.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, dict) else {}
    for key in ("index", "index-url", "extra-index-url", "find-links", "sources", "workspace"):
        if isinstance(uv, dict) and key in uv:
            return f"its pyproject.toml sets [tool.uv] {key}"
    for item in _requirements(document):
        if isinstance(item, str) and _URL_REQUIREMENT.search(item):
            return f"its pyproject.toml requires {item.split('@')[0].strip()} from a URL"
    return None


def pin_line(name: str, version: str, markers: str | None) -> str | None:
    """`name==version ; markers` for a resolver's input, from a lockfile's reading; None when
    the version is not PEP 440. Markers are written as packaging reads them (a marker that
    does not parse is left out: the pin then counts everywhere, which resolves more, not
    less)."""
    from packaging.markers import InvalidMarker, Marker
    from packaging.version import InvalidVersion

    try:
        exact = str(Version(version))
    except InvalidVersion:
        return None
    line = f"{name}=={exact}"
    if markers:
        with contextlib.suppress(InvalidMarker):
            line += f" ; {Marker(markers)}"
    return line
