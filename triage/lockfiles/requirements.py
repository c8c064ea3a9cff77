"""Requirements files (pip's format): plain pins on a fast path, everything else through
`pip_requirements_parser` (imported only here), `-r` includes kept inside the scanned root.

pip-audit's `RequirementSource` does not serve here: with pip disabled it stops at the first
unpinned line instead of reporting each, evaluates markers against the running interpreter
(silently dropping lines meant for other platforms) and keeps neither hashes nor line numbers.
So requirements files go through the parser pip-audit itself builds on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from triage.errors import LockfileError
from triage.lockfiles.pinning import display_path, pinned_version, unpinned_reason
from triage.models import LockfileContents, Package, Unpinned

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


def read_requirements(path: Path, root: Path) -> LockfileContents:
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
        version = pinned_version(req.specifier)
        if version is None:
            unpinned.append(Unpinned(name, shown, location, unpinned_reason(req.specifier)))
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
