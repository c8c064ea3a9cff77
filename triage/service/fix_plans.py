"""The planners of `triage fix`, one per kind of lockfile (osv-scalibr's shape: strategies as
separate planners over what a real resolver says). Each tries the fixing releases lowest first
and keeps the first that uv resolves, that removes the findings it is for and brings no other;
what it would write is kept in memory, in `Draft`s, until --apply."""

from __future__ import annotations

import functools
import re
import shlex
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from msgspec import Struct, field
from msgspec.structs import replace

from triage import lockfiles, resolver
from triage.config.edit import rewritten_requirements
from triage.core import pins
from triage.core.remedy import Plan, PlanState, Release, Strategy, Target, moves
from triage.errors import LockfileError
from triage.models import FindingKey, Package

KeysOf = Callable[[Sequence[Package]], set[FindingKey]]  # the findings of a set of packages
ATTEMPTS = 4  # fixing releases tried per package, lowest first
_LINE = re.compile(r"line (\d+)")


class Draft(Struct):
    """Files as the plans so far would leave them (path -> text); nothing is on disk yet."""

    texts: dict[Path, str] = field(default_factory=dict)
    originals: dict[Path, str] = field(default_factory=dict)

    def text(self, path: Path) -> str:
        if path not in self.texts:
            try:
                read = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise LockfileError(
                    f"{path}: cannot be read to edit it ({exc})",
                    hint="a file triage edits must be UTF-8 text: save it as such, or fix it by "
                    "hand",
                ) from exc
            self.originals[path] = self.texts[path] = read
        return self.texts[path]

    def changed(self) -> dict[Path, str]:
        return {p: t for p, t in self.texts.items() if t != self.originals.get(p)}


class Ask(Struct, frozen=True):
    """One package of one lockfile to fix, and everything its planner needs."""

    lockfile: Path  # on disk
    shown: str
    package: Package  # as locked (the first, when it is locked at several versions)
    locked: tuple[Package, ...]  # every package the lockfile locks, as the plans so far leave it
    findings: tuple[FindingKey, ...]
    targets: tuple[Target, ...]
    skipped: tuple[str, ...]
    releases: dict[str, Release]
    strategy: Strategy
    index: resolver.Index
    keys_of: KeysOf

    def plan(self, state: PlanState, reason: str, **facts: object) -> Plan:
        base = Plan(
            lockfile=self.shown,
            package=self.package.name,
            before=self.package.version,
            state=state,
            reason=reason,
            findings=tuple(str(k) for k in self.findings),
            direct=self.package.direct,
            skipped=self.skipped,
            strategy=self.strategy,
        )
        return replace(base, **facts)


class Outcome(Struct, frozen=True):
    """A resolution's reading: what it moved, removed and brought."""

    packages: tuple[Package, ...]
    removes: tuple[str, ...]
    brings: tuple[str, ...]
    fixes: bool  # every finding asked about is gone, nothing new came


def judge(ask: Ask, after: Sequence[Package]) -> Outcome:
    before = ask.keys_of(ask.locked)
    now = ask.keys_of(after)
    removes = tuple(sorted(str(k) for k in before - now))
    brings = tuple(sorted(str(k) for k in now - before))
    gone = all(key not in now for key in ask.findings)
    return Outcome(tuple(after), removes, brings, gone and not brings)


def read_packages(
    text: str, lockfile: Path, shown: str, *, kind: lockfiles.FormatId, root: Path
) -> tuple[Package, ...]:
    """A lockfile's packages from a text of it (a draft, a resolution), read as a scan reads
    the file itself."""
    lock = lockfiles.LockText(text, shown, str(lockfile))
    contents = lockfiles.read_text(
        lockfiles.BY_ID[kind], lock, lockfiles.working_tree_includes(root)
    )
    return tuple(contents.packages)


def _read(ask: Ask, text: str, *, kind: lockfiles.FormatId, root: Path) -> tuple[Package, ...]:
    return read_packages(text, ask.lockfile, ask.shown, kind=kind, root=root)


def _parents_moved(ask: Ask, outcome: Outcome) -> str | None:
    """For a transitive package, the parents the resolution moved, and to what."""
    if ask.package.direct:
        return None
    moved = {m.package: m for m in moves(ask.locked, outcome.packages)}
    shown = [f"{p} {moved[p].before} -> {moved[p].after}" for p in ask.package.via if p in moved]
    return ", ".join(shown) or None


def _ready(ask: Ask, target: Target, outcome: Outcome, *, reason: str, **facts: object) -> Plan:
    return ask.plan(
        PlanState.READY,
        reason,
        after=target.version,
        major=target.major,
        removes=outcome.removes,
        moves=moves(ask.locked, outcome.packages),
        **facts,
    )


def _no_fix(ask: Ask) -> Plan | None:
    if ask.targets:
        return None
    why = "no release on the index is free of its advisories"
    if ask.skipped:
        why += f" (yanked, so never chosen: {', '.join(ask.skipped)})"
    return ask.plan(PlanState.BLOCKED, why)


# --- uv.lock -----------------------------------------------------------------------------------


def plan_uv_lock(ask: Ask, draft: Draft, root: Path) -> Plan:
    """Re-lock with uv, only the package (and, for a transitive one, its parents) allowed to
    move; with `relax`, a direct requirement that forbids every fix widened in pyproject.toml."""
    blocked = _no_fix(ask)
    if blocked is not None:
        return blocked
    manifest_path = ask.lockfile.parent / "pyproject.toml"
    first = ask.targets[0].version
    command = f"uv lock --upgrade-package {shlex.quote(f'{ask.package.name}=={first}')}"
    if not manifest_path.is_file():
        return ask.plan(PlanState.BLOCKED, "no pyproject.toml beside it to re-lock from")
    manifest, lock = draft.text(manifest_path), draft.text(ask.lockfile)
    elsewhere = pins.resolves_elsewhere(manifest)
    ours = ask.index.simple_url.rstrip("/")
    registries, unregistered = pins.uv_lock_sources(lock)
    others = sorted(registries - {ours})
    if elsewhere is None and others:
        elsewhere = f"it was locked from {', '.join(others)}; triage resolves against {ours} only"
    if elsewhere is None and unregistered:
        shown = ", ".join(sorted(unregistered)[:3])
        elsewhere = f"it locks {shown} from a URL, git or a path, which a re-lock would fetch"
    if elsewhere is not None:
        return ask.plan(
            PlanState.MANUAL, f"{elsewhere}: run uv yourself", after=first, command=command
        )
    first = ""
    for target in ask.targets[:ATTEMPTS]:
        pin = f"{ask.package.name}=={target.version}"
        tries: list[tuple[str, list[str], str | None]] = [("in place", [pin], None)]
        if ask.package.via and not ask.package.direct:
            tries.append(("with its parents", [pin, *ask.package.via], None))
        if ask.strategy is Strategy.RELAX and ask.package.direct is not False:
            widened = rewritten_requirements(
                manifest,
                str(manifest_path),
                functools.partial(_relaxed, package=ask.package.name, target=target.version),
            )
            if widened is not None:
                tries.append(("relaxed", [pin], widened))
        for how, upgrades, new_manifest in tries:
            resolved = _uv_lock(new_manifest or manifest, lock, upgrades, index=ask.index)
            if isinstance(resolved, resolver.Resolution):
                first = first or resolved.message
                ended = _stopped(ask, resolved, doing=f"resolve {pin}", target=target)
                if ended is not None:
                    return ended
                continue
            outcome = judge(ask, _read(ask, resolved, kind=lockfiles.FormatId.UV, root=root))
            if not outcome.fixes:
                first = first or _why_not(outcome, pin)
                continue
            draft.texts[ask.lockfile] = resolved
            strategy = Strategy.IN_PLACE
            if new_manifest is not None:
                draft.texts[manifest_path] = new_manifest
                strategy = Strategy.RELAX
            return _ready(
                ask,
                target,
                outcome,
                reason=f"uv re-locked {pin} ({how})",
                strategy=strategy,
                parent=_parents_moved(ask, outcome),
                brings=(),
            )
    hint = ""
    if ask.strategy is Strategy.IN_PLACE and ask.package.direct:
        hint = "; its declared range may forbid the fix: --strategy relax widens it"
    return ask.plan(PlanState.BLOCKED, f"no fixing release resolves: {first}{hint}")


def _relaxed(requirement: str, *, package: str, target: str) -> str | None:
    return pins.relaxed(requirement, package, target)


def _stopped(
    ask: Ask, resolution: resolver.Resolution, *, doing: str, target: Target
) -> Plan | None:
    """The plan when a failure ends the trying (another release would fail the same way, or
    it needs a build, never planned automatically); None when the next release may do."""
    if resolution.cannot_run:
        return ask.plan(PlanState.BLOCKED, f"uv could not resolve here: {resolution.message}")
    if resolution.needs_build:
        return ask.plan(
            PlanState.BLOCKED,
            f"uv would have to build a source distribution to {doing}: not planned automatically",
            after=target.version,
            major=target.major,
        )
    return None


def _why_not(outcome: Outcome, pin: str) -> str:
    if outcome.brings:
        return f"{pin} would bring {', '.join(outcome.brings)}"
    return f"{pin} leaves the finding in place"


def _uv_lock(
    manifest: str, lock: str, upgrades: Sequence[str], *, index: resolver.Index
) -> str | resolver.Resolution:
    """The new uv.lock's text, or why uv would not resolve; in a folder of triage's own, whose
    files have triage's names."""
    with tempfile.TemporaryDirectory(prefix="triage-fix-") as folder:
        work = Path(folder)
        (work / "pyproject.toml").write_text(manifest, encoding="utf-8")
        (work / "uv.lock").write_text(lock, encoding="utf-8")
        resolution = resolver.lock(work, upgrades, index)
        if not resolution.ok:
            return resolution
        return (work / "uv.lock").read_text(encoding="utf-8")


# --- requirements files --------------------------------------------------------------------------


def plan_requirements(ask: Ask, draft: Draft, root: Path) -> Plan:
    """A compiled file is recompiled from its input; a hand-pinned one gets the pin (and its
    hashes, from the index) edited once uv confirms the whole set still resolves."""
    blocked = _no_fix(ask)
    if blocked is not None:
        return blocked
    text = draft.text(ask.lockfile)
    header = pins.compiled_header(text)
    if header is not None:
        return _recompile(ask, draft, root, header=header)
    return _repin(ask, draft)


def _repin(ask: Ask, draft: Draft) -> Plan:
    text = draft.text(ask.lockfile)
    if pins.names_an_index(text):
        return ask.plan(
            PlanState.MANUAL,
            f"it names its own index, whose files (and hashes) may not be triage's: move the "
            f"pin to {ask.targets[0].version} with its hashes from that index yourself",
            after=ask.targets[0].version,
        )
    found = _LINE.search(ask.package.location)
    if found is None:
        return ask.plan(PlanState.BLOCKED, f"its pin ({ask.package.location}) is not on a line")
    first = ""
    for target in ask.targets[:ATTEMPTS]:
        release = ask.releases[target.version]
        if ask.package.hashes and not release.hashes:
            first = first or f"the index gives no sha256 for {ask.package.name} {target.version}"
            continue
        hashes = release.hashes if ask.package.hashes else None
        edited = pins.repin(
            text,
            int(found.group(1)),
            (ask.package.name, ask.package.version, target.version),
            hashes=hashes,
        )
        if edited is None:
            return ask.plan(
                PlanState.BLOCKED,
                f"{ask.package.location} does not pin {ask.package.name}=={ask.package.version} "
                "as triage edits pins",
            )
        after = [
            replace(p, version=target.version) if p.name == ask.package.name else p
            for p in ask.locked
        ]
        resolution = _check_pins(after, ask.index)
        if not resolution.ok:
            ended = _stopped(ask, resolution, doing="check the pins", target=target)
            if ended is not None:
                return ended
            as_they_are = _check_pins(ask.locked, ask.index)
            ended = _stopped(ask, as_they_are, doing="check the pins as they are", target=target)
            if ended is not None:
                return ended
            if not as_they_are.ok:
                return ask.plan(
                    PlanState.BLOCKED,
                    f"the file's pins do not resolve as they are either: {as_they_are.message}",
                )
            first = first or resolution.message
            continue
        outcome = judge(ask, after)
        if not outcome.fixes:
            first = first or _why_not(outcome, f"{ask.package.name}=={target.version}")
            continue
        draft.texts[ask.lockfile] = edited
        return _ready(ask, target, outcome, reason="uv resolves the pins with it", brings=())
    return ask.plan(PlanState.BLOCKED, f"no fixing release resolves: {first}")


def _check_pins(packages: Sequence[Package], index: resolver.Index) -> resolver.Resolution:
    """Whether uv resolves every pin together, for any platform the markers name."""
    lines = sorted(
        {line for p in packages if (line := pins.pin_line(p.name, p.version, p.markers))}
    )
    with tempfile.TemporaryDirectory(prefix="triage-fix-") as folder:
        work = Path(folder)
        (work / "pins.in").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return resolver.compile_requirements(
            work, ("pins.in",), work / "out.txt", options=("--universal",), upgrades=(), index=index
        )


def _recompile(ask: Ask, draft: Draft, root: Path, *, header: pins.Compiled) -> Plan:
    first = ask.targets[0].version
    upgrade = f"{ask.package.name}=={first}"
    command = f"{header.command} --upgrade-package {shlex.quote(upgrade)}"
    if header.tool == "uv export":  # the fix is uv.lock's; the file is exported again after
        command = f"uv lock --upgrade-package {shlex.quote(upgrade)} && {header.command}"
    if header.refused is not None:
        then = "lock and export it again" if header.tool == "uv export" else "recompile it yourself"
        return ask.plan(
            PlanState.MANUAL,
            f"{header.refused}: {then}",
            after=first,
            command=command,
        )
    folder = ask.lockfile.parent
    why = _inputs_elsewhere(folder, header.sources, root)
    if why is not None:
        return ask.plan(
            PlanState.MANUAL, f"{why}: recompile it yourself", after=first, command=command
        )
    text = draft.text(ask.lockfile)
    first = ""
    for target in ask.targets[:ATTEMPTS]:
        pin = f"{ask.package.name}=={target.version}"
        with tempfile.TemporaryDirectory(prefix="triage-fix-") as work:
            output = Path(work) / "out.txt"
            output.write_text(text, encoding="utf-8")
            resolution = resolver.compile_requirements(
                folder,
                header.sources,
                output,
                options=header.options,
                upgrades=(pin,),
                index=ask.index,
            )
            compiled = output.read_text(encoding="utf-8") if resolution.ok else ""
        if not resolution.ok:
            first = first or resolution.message
            ended = _stopped(ask, resolution, doing=f"recompile with {pin}", target=target)
            if ended is not None:
                return ended
            continue
        new_text = pins.with_header(compiled, pins.header_lines(text))
        try:
            after = _read(ask, new_text, kind=lockfiles.FormatId.REQUIREMENTS, root=root)
        except LockfileError as exc:
            first = first or f"the recompiled file does not read: {exc}"
            continue
        outcome = judge(ask, after)
        if not outcome.fixes:
            first = first or _why_not(outcome, pin)
            continue
        draft.texts[ask.lockfile] = new_text
        return _ready(
            ask,
            target,
            outcome,
            reason=f"recompiled by uv from {', '.join(header.sources)}",
            brings=(),
        )
    return ask.plan(PlanState.BLOCKED, f"no fixing release resolves: {first}")


# --- the locks of other tools --------------------------------------------------------------------


def _pylock_command(ask: Ask, name: str, version: str) -> str:
    """The command of the tool that wrote the pylock.toml (its `created-by`)."""
    import tomllib

    try:
        document = tomllib.loads(ask.lockfile.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        document = {}
    tool = document.get("created-by") if isinstance(document, dict) else None
    out = shlex.quote(Path(ask.shown).name)
    pin = shlex.quote(f"{name}=={version}")
    if tool == "uv" and (ask.lockfile.parent / "uv.lock").is_file():
        return f"uv lock --upgrade-package {pin} && uv export --format pylock.toml -o {out}"
    if tool == "pipenv":
        return f"pipenv upgrade {shlex.quote(f'{name}>={version}')}"
    if tool == "pdm":
        return f"pdm update {shlex.quote(name)} && pdm export -f pylock -o {out}"
    return f"uv pip compile <its input> --format pylock.toml -o {out} --upgrade-package {pin}"


def _inputs_elsewhere(folder: Path, sources: Sequence[str], root: Path) -> str | None:
    """Why a recompile cannot be left to triage: an input (or a file it includes) outside the
    project, unreadable, or pointing beyond triage's index. None when every one is plain."""
    inside = root.resolve()
    queue = [(folder / s, s) for s in sources]
    seen: set[Path] = set()
    while queue:
        path, shown = queue.pop()
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if not resolved.is_relative_to(inside):
            return f"its input {shown} is outside the project"
        try:
            text = resolved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return f"its input {shown} cannot be read"
        if path.name == "pyproject.toml":
            if pins.manifest_points_elsewhere(text):
                return f"its input {shown} names its own sources or indexes"
        elif pins.points_elsewhere(text):
            return f"its input {shown} names an index, a URL, a path or an editable"
        queue += [(resolved.parent / target, target) for target in pins.included(text)]
        if len(seen) > 64:
            return "its inputs include more than 64 files"
    return None


def plan_other(ask: Ask, kind: lockfiles.FormatId) -> Plan:
    """poetry, Pipenv, pylock.toml: their own tool resolves; the plan names the lowest fixing
    release and the command (triage does not run their resolvers)."""
    blocked = _no_fix(ask)
    if blocked is not None:
        return blocked
    target = ask.targets[0]
    name, at_least = ask.package.name, shlex.quote(f"{ask.package.name}>={target.version}")
    direct = ask.package.direct is not False
    if kind is lockfiles.FormatId.POETRY:
        command = f"poetry add {at_least}" if direct else f"poetry update {name}"
    elif kind is lockfiles.FormatId.PIPFILE:
        command = f"pipenv install {at_least}" if direct else f"pipenv update {name}"
    else:
        command = _pylock_command(ask, name, target.version)
    return ask.plan(
        PlanState.MANUAL,
        f"its own tool resolves it: upgrade to {target.version} or later (not checked by uv)",
        after=target.version,
        major=target.major,
        command=command,
    )
