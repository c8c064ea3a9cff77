"""Requirements files (pip's format): plain pins on a fast path, everything else through
`pip_requirements_parser` (imported only here), `-r` includes kept inside the scanned root.

pip-audit's `RequirementSource` does not serve here: with pip disabled it stops at the first
unpinned line instead of reporting each, evaluates markers against the running interpreter
(silently dropping lines meant for other platforms) and keeps neither hashes nor line numbers.
So requirements files go through the parser pip-audit itself builds on.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from msgspec import Struct
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from triage.core.matching import normalize_name
from triage.errors import LockfileError
from triage.lockfiles.pinning import pinned_version, unpinned_reason
from triage.lockfiles.source import Includes, LockText
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
    names = [str(normalize_name(i.split()[0])) for i in collected if i and not i.startswith("-")]
    return names, direct


_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_OPTION = re.compile(r"\s--hash[=\s]\s*(\S+)")
_PLAIN_PIN = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*===?\s*[^\s;,*<>=!~]+\s*(;.*)?$"
)


class _Requirement(Struct, frozen=True):
    """One requirement line, from either parser."""

    name: str
    specifier: SpecifierSet
    extras: tuple[str, ...]
    marker: str | None
    hashes: tuple[str, ...]
    file: str  # the shown path of the file it is in (an include's, for included lines)
    line_number: int
    editable: bool = False
    url: bool = False  # a URL or VCS requirement whose version the line does not give
    legacy_version: str | None = None  # an exact pin that is not PEP 440 (`0.9-doduo`)
    unknown: str | None = None  # why pip's install of the line cannot be known from the file
    any_version: bool = False  # with `unknown`: the project is known, its version is not
    ignored: bool = False  # with `unknown`: pip installs nothing from it


def _plain_requirements(lock: LockText, lines: list[str]) -> list[_Requirement] | None:
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
        if _ENVIRONMENT.search(text):
            return None
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
                lock.shown,
                first + 1,
            )
        )
    return found


_LEGACY_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*===?\s*"
    r"(?P<version>[^\s;,*<>=!~]+)\s*(?:;\s*(?P<marker>.*))?$"
)
_NAME_VERSION_FRAGMENT = re.compile(r"#(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^&#\s]+)")


# pip replaces `${NAME}` (capitals, digits, underscores) with the environment's value before
# reading a line: what such a line installs is decided where pip runs, not in the file.
_ENVIRONMENT = re.compile(r"\$\{[A-Z0-9_]+\}")
_LEADING_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_IGNORED_TRAILING = "Incorrect and ignored trailing argument(s)"


def _from_environment(text: str, lock: LockText, line_number: int) -> _Requirement:
    """A line naming an environment variable: its project when the line states one ahead of
    the variable, never a version, so any version may be what pip installs."""
    from pip_requirements_parser import break_args_options

    args = break_args_options(text)[0].strip()
    variables = ", ".join(dict.fromkeys(_ENVIRONMENT.findall(text)))
    head = _LEADING_NAME.match(args)
    name_known = head is not None and not args.startswith("${")
    is_url = "://" in args or args.startswith((".", "/"))
    if not name_known or is_url:
        unknown = (
            f"pip fills it from the environment ({variables}) at install: which project and "
            "version it installs cannot be told from the file"
        )
    else:
        unknown = (
            f"its version comes from the environment ({variables}), which pip fills in at "
            "install: any version may be installed"
        )
    name = head.group(1) if name_known and head is not None and not is_url else args
    return _unknown(name, lock, line_number, why=unknown, any_version=name_known and not is_url)


def _unknown(
    name: str,
    lock: LockText,
    line_number: int,
    *,
    why: str,
    any_version: bool = False,
    ignored: bool = False,
) -> _Requirement:
    """A line whose install cannot be told from the file, saying why."""
    return _Requirement(
        name=name,
        specifier=SpecifierSet(),
        extras=(),
        marker=None,
        hashes=(),
        file=lock.shown,
        line_number=line_number,
        unknown=why,
        any_version=any_version,
        ignored=ignored,
    )


def _ignored_by_pip(message: str, lock: LockText, line_number: int) -> list[_Requirement]:
    """An option line with arguments after its value: pip applies the option and ignores the
    rest, so nothing installs from it; each ignored argument is listed, saying so."""
    ignored = message.partition(":")[2].split()
    why = "an argument after an option's value, which pip ignores: nothing is installed from it"
    return [_unknown(argument, lock, line_number, why=why, ignored=True) for argument in ignored]


def _tolerant(text: str, lock: LockText, line_number: int) -> _Requirement | None:
    """A line pip's parser refuses, read as pip reads it where pip would: options other than
    --hash on a requirement line are ignored by pip, and an exact pin that is not PEP 440 (a
    legacy version from an older project) is kept as written. None: unreadable."""
    from pip_requirements_parser import break_args_options

    args, _ = break_args_options(text)
    hashes = tuple(_HASH_OPTION.findall(" " + text))
    try:
        req = Requirement(args.strip())
    except InvalidRequirement:
        legacy = _LEGACY_PIN.match(args.strip())
        if legacy is None:
            return None
        extras = legacy.group("extras") or ""
        return _Requirement(
            name=legacy.group("name"),
            specifier=SpecifierSet(),
            extras=tuple(sorted(e.strip() for e in extras.split(",") if e.strip())),
            marker=legacy.group("marker"),
            hashes=hashes,
            file=lock.shown,
            line_number=line_number,
            legacy_version=legacy.group("version"),
        )
    return _Requirement(
        name=req.name,
        specifier=req.specifier,
        extras=tuple(sorted(req.extras)),
        marker=str(req.marker) if req.marker else None,
        hashes=hashes,
        file=lock.shown,
        line_number=line_number,
        url=req.url is not None and pinned_version(req.specifier) is None,
    )


def _from_parser(req: Any, lock: LockText) -> _Requirement:
    """One requirement pip's parser read. A URL names its project by `#egg=`, by a
    `#name==version` fragment or, for a wheel, by its file name (which gives the version too)."""
    name = req.name
    specifier = req.specifier or SpecifierSet()
    if req.link is not None and not name:
        fragment = _NAME_VERSION_FRAGMENT.search(req.link.url)
        if fragment is not None:
            name, specifier = fragment.group("name"), SpecifierSet(f"=={fragment.group('version')}")
    return _Requirement(
        name=name or req.requirement_line.line,
        specifier=specifier,
        extras=tuple(sorted(req.extras)),
        marker=str(req.marker) if req.marker else None,
        hashes=tuple(req.hash_options),
        file=lock.shown,
        line_number=req.requirement_line.line_number,
        editable=bool(req.is_editable),
        url=(req.link is not None or req.req is None) and pinned_version(specifier) is None,
    )


def _parse(lock: LockText) -> object:
    """pip's parser reads files only: the text goes to a file of our own naming in a private
    temporary folder, never to a name the input chose."""
    from pip_requirements_parser import RequirementsFile

    with tempfile.TemporaryDirectory(prefix="triage-requirements-") as scratch:
        copy = Path(scratch, "requirements.txt")
        copy.write_text(lock.text, encoding="utf-8")
        try:
            return RequirementsFile.from_file(str(copy), include_nested=False)
        except Exception as exc:  # the parser raises bare Exceptions for unreadable files
            raise LockfileError(
                f"{lock.origin}: cannot be read as a requirements file: {exc}",
                hint="check the file's encoding, or pass the right file with --lockfile",
            ) from exc


def _pip_requirements(
    lock: LockText, includes: Includes, seen: dict[str, LockText]
) -> list[_Requirement]:
    """One file through pip's parser, then its `-r` includes, each opened through `includes`,
    which keeps them inside the scanned root or tree: a pull request must not be able to make
    triage read (and print) files such as ~/.netrc. `-c` constraint files install nothing and
    are not read."""
    seen[lock.shown] = lock
    parsed: Any = _parse(lock)
    found = [_from_parser(req, lock) for req in parsed.requirements]
    for bad in parsed.invalid_lines:
        line = bad.requirement_line
        if _ENVIRONMENT.search(line.line):
            found.append(_from_environment(line.line, lock, line.line_number))
            continue
        if bad.error_message.startswith(_IGNORED_TRAILING):
            found += _ignored_by_pip(bad.error_message, lock, line.line_number)
            continue
        read = _tolerant(line.line, lock, line.line_number)
        if read is None:
            raise LockfileError(
                f"{lock.origin}: line {line.line_number}: not a requirement: {bad.error_message}",
                hint="fix the line, or pass the right file with --lockfile",
            )
        found.append(read)
    found.sort(key=lambda r: (r.file != lock.shown, r.line_number))
    for option in parsed.options:
        for target in option.options.get("requirements", []):
            where = f"{lock.origin}: line {option.requirement_line.line_number}: -r {target}"
            included = includes(lock, target, where)
            if included.shown not in seen:
                found.extend(_pip_requirements(included, includes, seen))
    return found


def read_requirements(lock: LockText, includes: Includes) -> LockfileContents:
    lines = lock.text.splitlines()
    seen: dict[str, LockText] = {lock.shown: lock}
    requirements = _plain_requirements(lock, lines)
    if requirements is None:
        requirements = _pip_requirements(lock, includes, seen)
    raw_lines = {shown: text.text.splitlines() for shown, text in seen.items()}
    annotated = {
        shown: any("# via" in line for line in found) for shown, found in raw_lines.items()
    }
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for req in requirements:
        shown = req.file
        location = f"line {req.line_number}"
        if req.unknown is not None:
            name = normalize_name(req.name) if req.any_version else req.name
            unpinned.append(
                Unpinned(
                    name,
                    shown,
                    location,
                    req.unknown,
                    "" if req.any_version else None,
                    project_unknown=not req.any_version and not req.ignored,
                )
            )
            continue
        name = normalize_name(req.name)
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
        version = req.legacy_version or pinned_version(req.specifier)
        if version is None:
            unpinned.append(
                Unpinned(name, shown, location, unpinned_reason(req.specifier), str(req.specifier))
            )
            continue
        via, direct = _via_annotations(raw_lines[shown], req.line_number - 1)
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
                direct=(direct or not via) if annotated[shown] else None,
            )
        )
    included = tuple(shown for shown in seen if shown != lock.shown)
    return LockfileContents(lock.shown, tuple(packages), tuple(unpinned), includes=included)
