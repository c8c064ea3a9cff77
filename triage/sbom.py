"""CycloneDX 1.6 (SPEC §11) through cyclonedx-python-lib, the only home of that library: the
locked packages as components with purls and hashes, the dependency graph the lockfiles
state, and the findings as vulnerabilities whose VEX analysis comes from the ledger (an
ignore's reason and issue) and the triage state (a claim)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityReference,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.output.xml import XmlV1Dot6
from msgspec import Struct, field
from msgspec.structs import replace
from packageurl import PackageURL

from triage import __version__
from triage.core import escape
from triage.core.policy import malware_response
from triage.models import AssessedFinding, Format, Package, Status, TriageState

OSV = VulnerabilitySource(name="OSV", url=XsUri("https://osv.dev/"))
# A fixed namespace: the same inputs give the same serial number.
SERIAL_NAMESPACE = uuid.UUID("7d9c1f4e-2b7a-4c1e-9a51-3f0d2c6b8e11")


class SbomInput(Struct, frozen=True):
    project: str  # the scanned folder's name, the BOM's subject
    packages: Sequence[Package]
    findings: Sequence[AssessedFinding]
    states: Mapping[str, tuple[TriageState, str | None]]  # finding key -> (state, assignee)
    lockfiles: Sequence[tuple[str, str]]  # (path, sha256 of its bytes)
    database_digest: str
    moment: dt.datetime
    licenses: Mapping[tuple[str, str], str] = field(default_factory=dict)  # SPDX expression
    # What the last audit found the index saying of a release: (kind, detail, reason) each.
    index: Mapping[tuple[str, str], Sequence[tuple[str, str, str | None]]] = field(
        default_factory=dict
    )


def purl(package: Package) -> PackageURL:
    return PackageURL(type="pypi", name=package.name, version=package.version)


def _hashes(package: Package) -> list[HashType]:
    found = {h.removeprefix("sha256:") for h in package.hashes if h.startswith("sha256:")}
    found |= {a.sha256 for a in package.artifacts if a.sha256}
    return [HashType(alg=HashAlgorithm.SHA_256, content=digest) for digest in sorted(found)]


def _license(expression: str | None) -> list[LicenseExpression | DisjunctiveLicense]:
    if not expression:
        return []
    if " " in expression:  # an expression (OR, AND, WITH)
        return [LicenseExpression(expression)]
    return [DisjunctiveLicense(id=expression)]


def _index_properties(notes: Sequence[tuple[str, str, str | None]]) -> list[Property]:
    """`triage:yanked` (the file, and why) and `triage:project-status` (the status, and why)."""
    found = []
    for kind, detail, reason in notes:
        why = f": {reason}" if reason else ""
        if kind == "yanked":
            found.append(Property(name="triage:yanked", value=f"{detail}{why}"))
        else:
            found.append(Property(name="triage:project-status", value=f"{kind}{why}"))
    return found


def _components(
    packages: Iterable[Package],
    licenses: Mapping[tuple[str, str], str],
    index: Mapping[tuple[str, str], Sequence[tuple[str, str, str | None]]],
) -> dict[tuple[str, str], Component]:
    """One component per (name, version), whatever number of lockfiles pin it."""
    merged: dict[tuple[str, str], list[Package]] = {}
    for package in packages:
        merged.setdefault((package.name, package.version), []).append(package)
    components = {}
    for (name, version), copies in sorted(merged.items()):
        first = copies[0]
        hashes = {h.content: h for p in copies for h in _hashes(p)}
        components[name, version] = Component(
            type=ComponentType.LIBRARY,
            name=first.display_name or name,
            version=version,
            purl=purl(first),
            bom_ref=str(purl(first)),
            hashes=[hashes[key] for key in sorted(hashes)],
            licenses=_license(licenses.get((name, version))),
            properties=[
                Property(name="triage:lockfile", value=path)
                for path in sorted({p.lockfile for p in copies})
            ]
            + _index_properties(index.get((name, version), ())),
        )
    return components


def _analysis(
    item: AssessedFinding, state: tuple[TriageState, str | None] | None
) -> VulnerabilityAnalysis:
    finding = item.finding
    if item.status is Status.IGNORED and item.ignore is not None:
        detail = item.ignore.reason or "ignored in deny.toml"
        if item.ignore.issue:
            detail += f"; tracking issue: {item.ignore.issue}"
        if item.ignore.expires:
            detail += f"; accepted until {item.ignore.expires.isoformat()}"
        if item.ignore.justification is not None and not finding.malicious:
            # The ledger says why the project is not affected, in CycloneDX's own terms
            # (never for malware: installing it is the harm, whatever code is reached).
            return VulnerabilityAnalysis(
                state=ImpactAnalysisState.NOT_AFFECTED,
                justification=ImpactAnalysisJustification(item.ignore.justification.value),
                detail=detail,
            )
        # Accepted risk, not a claim of safety: consumers of the SBOM must still see it.
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.EXPLOITABLE,
            responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
            detail=f"accepted risk: {detail}",
        )
    if state is not None and state[0] is TriageState.CLAIMED:
        who = f" by {state[1]}" if state[1] else ""
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.IN_TRIAGE, detail=f"claimed{who} in the triage rotation"
        )
    detail = "active: fails the policy" if item.fails else "active"
    if item.status is Status.IGNORE_EXPIRED and item.ignore and item.ignore.expires:
        detail += f"; its ignore expired on {item.ignore.expires.isoformat()}"
    if finding.malicious:
        responses = [ImpactAnalysisResponse.WORKAROUND_AVAILABLE]
        detail += f"; malware: {malware_response(finding.package)}"
    else:
        responses = [ImpactAnalysisResponse.UPDATE] if finding.fixed_versions else []
    return VulnerabilityAnalysis(
        state=ImpactAnalysisState.EXPLOITABLE, responses=responses, detail=detail
    )


def _vulnerability(
    item: AssessedFinding,
    components: Mapping[tuple[str, str], Component],
    state: tuple[TriageState, str | None] | None,
) -> Vulnerability:
    finding = item.finding
    targets = [
        BomTarget(
            ref=str(components[finding.package, version].bom_ref),
            versions=[BomTargetVersionRange(version=version)],
        )
        for version in finding.versions
        if (finding.package, version) in components
    ]
    fixes = ", ".join(finding.fixed_versions)
    return Vulnerability(
        bom_ref=str(finding.key),
        id=finding.advisory,
        source=OSV,
        references=[VulnerabilityReference(id=alias, source=OSV) for alias in finding.aliases],
        description=finding.summary,
        recommendation=malware_response(finding.package)
        if finding.malicious
        else f"upgrade {finding.package} to {fixes}"
        if fixes
        else None,
        affects=targets,
        analysis=_analysis(item, state),
        properties=[
            Property(name="triage:severity", value=finding.severity.label),
            Property(
                name="triage:kind", value="malicious" if finding.malicious else "vulnerability"
            ),
        ],
    )


def _carried(value: Any) -> Any:
    """`value` with every string spelled so that XML 1.0 can carry it (a control character
    in an ignore's reason, a lone surrogate in a record's summary), and JSON alike, so both
    formats say the same; enums and other values are kept as they are."""
    if type(value) is str:
        return escape.visible(value)
    if isinstance(value, Struct):
        changes = {name: _carried(getattr(value, name)) for name in value.__struct_fields__}
        return replace(value, **changes)
    if isinstance(value, tuple | list):
        return type(value)(_carried(item) for item in value)
    if isinstance(value, Mapping):
        return {_carried(k): _carried(v) for k, v in value.items()}
    return value


def cyclonedx(given: SbomInput, serialised: Format, *, vex_only: bool = False) -> str:
    """The BOM as CycloneDX 1.6 JSON or XML (the library writes both from one model); with
    `vex_only`, the vulnerabilities alone (components they refer to stay, so each reference
    resolves)."""
    writer = _WRITERS.get(serialised)
    if writer is None:
        raise ValueError(f"CycloneDX is not written as {serialised}")
    given = _carried(given)
    components = _components(given.packages, given.licenses, given.index)
    subject = Component(
        type=ComponentType.APPLICATION, name=given.project, bom_ref=f"project:{given.project}"
    )
    properties = [Property(name="triage:database-digest", value=given.database_digest)]
    properties += [
        Property(name="triage:lockfile", value=f"{path} sha256:{digest}")
        for path, digest in given.lockfiles
    ]
    serial = uuid.uuid5(
        SERIAL_NAMESPACE,
        "\n".join([given.project, given.database_digest, *(d for _, d in given.lockfiles)]),
    )
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(
            timestamp=given.moment,
            component=subject,
            properties=properties,
        ),
    )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="triage", version=__version__)
    )
    affected = {(f.finding.package, v) for f in given.findings for v in f.finding.versions}
    kept = [c for key, c in components.items() if not vex_only or key in affected]
    for component in kept:
        bom.components.add(component)
    if vex_only:
        bom.register_dependency(subject, kept)  # the subject holds them; no graph beyond
    else:
        _dependencies(bom, subject, components, packages=given.packages)
    for item in given.findings:
        bom.vulnerabilities.add(
            _vulnerability(item, components, given.states.get(str(item.finding.key)))
        )
    return str(writer(bom).output_as_string(indent=2)) + "\n"


_WRITERS: dict[Format, type[JsonV1Dot6] | type[XmlV1Dot6]] = {
    Format.CYCLONEDX: JsonV1Dot6,
    Format.CYCLONEDX_XML: XmlV1Dot6,
}


def _dependencies(
    bom: Bom,
    subject: Component,
    components: Mapping[tuple[str, str], Component],
    *,
    packages: Sequence[Package],
) -> None:
    """The graph as the lockfiles state it (`via`): each package's dependents; packages no
    other requires hang off the project."""
    by_name: dict[str, list[Component]] = {}
    for (name, _), component in components.items():
        by_name.setdefault(name, []).append(component)
    children: dict[str, dict[str, Component]] = {}
    roots: dict[str, Component] = {}
    for package in packages:
        component = components[package.name, package.version]
        parents = [p for name in package.via for p in by_name.get(name, [])]
        if not parents:
            roots[str(component.bom_ref)] = component
        for parent in parents:
            children.setdefault(str(parent.bom_ref), {})[str(component.bom_ref)] = component
    bom.register_dependency(subject, [roots[k] for k in sorted(roots)])
    for component in components.values():
        below = children.get(str(component.bom_ref), {})
        bom.register_dependency(component, [below[k] for k in sorted(below)])
