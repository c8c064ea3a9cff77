"""Advisory records: OSV `.json` / PyPA `.yaml` bytes validated into `Advisory` facts. Every
record is checked where matching depends on it; a broken one raises an error naming the file
and the key path, so the caller can abandon the whole sync. (PyYAML and cvss live here.)"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from triage.core.diagnostics import Diagnostics
from triage.core.matching import ZERO, normalize_name, parse_version
from triage.errors import AdvisoryRecordError
from triage.models import (
    EVENT_KINDS,
    MALWARE_ORIGINS,
    Advisory,
    Affected,
    Event,
    Severity,
    VersionRange,
    is_malware_id,
)

if TYPE_CHECKING:
    import yaml


@cache
def _string_scalar_loader() -> type[yaml.CSafeLoader]:
    """YAML with every scalar kept as text but for booleans and nulls: versions like 1.10 and
    timestamps must not turn into floats or datetimes. Built when a record is first decoded:
    a sync that finds nothing changed never loads YAML."""
    import yaml

    class StringScalarLoader(yaml.CSafeLoader):
        pass

    StringScalarLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag.endswith((":bool", ":null"))]
        for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }
    return StringScalarLoader


def _fail(origin: str, path: str, message: str) -> AdvisoryRecordError:
    return AdvisoryRecordError(
        f"{origin}: {path}: {message}",
        hint="correct or remove this record and sync again; the database was not changed",
    )


def _require_str(value: Any, origin: str, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(origin, path, f"expected a non-empty string, found {value!r}")
    return value


def _str_list(value: Any, origin: str, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(origin, path, "expected a list of strings")
    return tuple(value)


_CVSS_WORDS = {
    "none": Severity.NONE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def _severity(raw: dict[str, Any], origin: str) -> tuple[Severity, str | None]:
    """The worst qualitative rating among CVSS vectors; GHSA's word when no vector is given."""
    from cvss import CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    best: tuple[Severity, str | None] = (Severity.UNKNOWN, None)
    for index, entry in enumerate(raw.get("severity") or []):
        if not isinstance(entry, dict):
            raise _fail(origin, f"severity[{index}]", "expected a table with type and score")
        kind, score = entry.get("type"), entry.get("score")
        calculator = {"CVSS_V3": CVSS3, "CVSS_V4": CVSS4}.get(str(kind))
        if calculator is None or not isinstance(score, str):
            continue
        try:
            rating = calculator(score).severities()[0]
        except CVSSError as exc:
            raise _fail(
                origin, f"severity[{index}].score", f"not a valid {kind} vector: {exc}"
            ) from exc
        level = _CVSS_WORDS.get(rating.lower(), Severity.UNKNOWN)
        if level.value > best[0].value:
            best = (level, score)
    if best[0] is Severity.UNKNOWN:
        specific = raw.get("database_specific")
        word = specific.get("severity") if isinstance(specific, dict) else None
        if isinstance(word, str) and word.lower() in _CVSS_WORDS:
            best = (_CVSS_WORDS[word.lower()], None)
    return best


def _range(raw: Any, origin: str, path: str, *, diagnostics: Diagnostics) -> VersionRange:
    events_raw = raw.get("events")
    if not isinstance(events_raw, list) or not events_raw:
        raise _fail(origin, f"{path}.events", "an ECOSYSTEM range needs a list of events")
    events = []
    for index, event in enumerate(events_raw):
        here = f"{path}.events[{index}]"
        if not isinstance(event, dict) or len(event) != 1:
            raise _fail(
                origin, here, "each event must have exactly one of " + ", ".join(EVENT_KINDS)
            )
        ((kind, version),) = event.items()
        if kind not in EVENT_KINDS:
            raise _fail(origin, here, f"unknown event {kind!r}")
        version = _require_str(version, origin, f"{here}.{kind}")
        if not (kind == "introduced" and version == ZERO) and parse_version(version) is None:
            # Published records carry a few of these (binderhub's "0.2.0-n653", steam's
            # "2019-09-12"): keep the record, warn, and let matching skip the one event.
            diagnostics.warn(
                f"{origin}: {here}.{kind}: {version!r} is not a PEP 440 version; "
                "this event is ignored when matching"
            )
        events.append(Event(kind, version))
    if not any(e.kind == "introduced" for e in events):
        raise _fail(origin, f"{path}.events", "an ECOSYSTEM range needs an 'introduced' event")
    return VersionRange(tuple(events))


def _affected(raw: Any, origin: str, path: str, *, diagnostics: Diagnostics) -> Affected | None:
    if not isinstance(raw, dict):
        raise _fail(origin, path, "expected a table")
    package = raw.get("package")
    if not isinstance(package, dict):
        raise _fail(origin, f"{path}.package", "expected a table with ecosystem and name")
    if package.get("ecosystem") != "PyPI":
        return None
    name = _require_str(package.get("name"), origin, f"{path}.package.name")
    ranges = []
    for index, vrange in enumerate(raw.get("ranges") or []):
        here = f"{path}.ranges[{index}]"
        if not isinstance(vrange, dict):
            raise _fail(origin, here, "expected a table")
        if vrange.get("type") == "ECOSYSTEM":
            ranges.append(_range(vrange, origin, here, diagnostics=diagnostics))
    versions = _str_list(raw.get("versions"), origin, f"{path}.versions")
    return Affected(normalize_name(name), tuple(ranges), versions)


_ADVISORY_ID = re.compile(r"[A-Za-z0-9._:-]+")


def _advisory_id(value: Any, origin: str, path: str) -> str:
    """An id goes into markers, keys, comments and shell lines: only [A-Za-z0-9._:-]+ is
    accepted (SPEC §9), so a poisoned source cannot forge a marker or another finding's key."""
    text = _require_str(value, origin, path)
    if not _ADVISORY_ID.fullmatch(text):
        raise _fail(origin, path, f"{text!r} is not an advisory id (letters, digits, . _ : -)")
    return text


def _aliases(value: Any, origin: str, diagnostics: Diagnostics) -> tuple[str, ...]:
    """Aliases that are ids; one that is not (real data has `GHSA-jf66-3q76-h5p5,` with its
    list's comma) is left out with a warning: it names no record, and could otherwise become
    the id a finding's key and markers are made of."""
    kept = []
    for index, alias in enumerate(_str_list(value, origin, "aliases")):
        if _ADVISORY_ID.fullmatch(alias):
            kept.append(alias)
        else:
            diagnostics.warn(
                f"{origin}: aliases[{index}]: {alias!r} is not an advisory id; it is left out"
            )
    return tuple(kept)


def parse_record(raw: Any, origin: str, diagnostics: Diagnostics | None = None) -> Advisory:
    """Validate one OSV record (or a snapshot entry, which is a subset of one). Problems that
    matching can live with are said to `diagnostics`; the rest raise."""
    diagnostics = Diagnostics() if diagnostics is None else diagnostics
    if not isinstance(raw, dict):
        raise _fail(origin, "(top level)", "an OSV record must be a table")
    advisory_id = _advisory_id(raw.get("id"), origin, "id")
    modified = _require_str(raw.get("modified"), origin, "modified")
    affected_raw = raw.get("affected") or []
    if not isinstance(affected_raw, list):
        raise _fail(origin, "affected", "expected a list")
    affected = tuple(
        entry
        for index, item in enumerate(affected_raw)
        if (entry := _affected(item, origin, f"affected[{index}]", diagnostics=diagnostics))
        is not None
    )
    severity, vector = _severity(raw, origin)
    references = []
    for ref in raw.get("references") or []:
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            references.append(ref["url"])
    return Advisory(
        id=advisory_id,
        modified=modified,
        published=raw.get("published") if isinstance(raw.get("published"), str) else None,
        withdrawn=raw.get("withdrawn") if isinstance(raw.get("withdrawn"), str) else None,
        aliases=_aliases(raw.get("aliases"), origin, diagnostics),
        affected=affected,
        severity=severity,
        severity_vector=vector,
        references=tuple(dict.fromkeys(references)),
        summary=_summary(raw),
        malicious=is_malware_id(advisory_id) or _openssf_origins(raw),
    )


def _openssf_origins(raw: dict[str, Any]) -> bool:
    """OpenSSF's malicious-packages records name where each report came from; that, not the
    id a database republishing the record gives it, says it is malware."""
    specific = raw.get("database_specific")
    return isinstance(specific, dict) and MALWARE_ORIGINS in specific


SUMMARY_LIMIT = 200


def _summary(raw: dict[str, Any]) -> str | None:
    """OSV's one-line summary; PyPA's records rarely have one, so else the first line of the
    details, cut at SUMMARY_LIMIT characters."""
    for key in ("summary", "details"):
        text = raw.get(key)
        if isinstance(text, str) and text.strip():
            line = " ".join(text.strip().splitlines()[0].split())
            return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"
    return None


def facts(advisory: Advisory) -> dict[str, Any]:
    """The OSV-shaped subset kept in the snapshot: ids, dates, ranges, severity, reference URLs
    and the one-line summary."""
    record: dict[str, Any] = {
        "id": advisory.id,
        "modified": advisory.modified,
        "aliases": list(advisory.aliases),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": a.package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{e.kind: e.version} for e in r.events]}
                    for r in a.ranges
                ],
                "versions": list(a.versions),
            }
            for a in advisory.affected
        ],
        "references": [{"url": url} for url in advisory.references],
    }
    if advisory.summary:
        record["summary"] = advisory.summary
    if advisory.published:
        record["published"] = advisory.published
    if advisory.withdrawn:
        record["withdrawn"] = advisory.withdrawn
    if advisory.severity_vector:
        kind = "CVSS_V4" if advisory.severity_vector.startswith("CVSS:4") else "CVSS_V3"
        record["severity"] = [{"type": kind, "score": advisory.severity_vector}]
    elif advisory.severity is not Severity.UNKNOWN:
        record["database_specific"] = {"severity": advisory.severity.label}
    if advisory.malicious:  # kept as OpenSSF's records say it (the reports themselves are not)
        record.setdefault("database_specific", {})[MALWARE_ORIGINS] = []
    return record


def record_digest(advisory: Advisory) -> str:
    canonical = json.dumps(facts(advisory), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def decode_record(data: bytes, origin: str, diagnostics: Diagnostics | None = None) -> Advisory:
    """Decode `.json` or `.yaml` bytes by the entry's suffix."""
    import yaml

    try:
        if origin.endswith((".yaml", ".yml")):
            raw = yaml.load(data, Loader=_string_scalar_loader())
        else:
            raw = json.loads(data)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # nesting past any record's
        raise _fail(
            origin, "(file)", f"not valid {'YAML' if origin.endswith('ml') else 'JSON'}: {exc}"
        ) from exc
    return parse_record(raw, origin, diagnostics)
