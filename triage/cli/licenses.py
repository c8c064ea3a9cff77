"""`triage licenses check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage.cli.common import Common, Renderers, common_options, echoed, lockfile_options
from triage.errors import EXIT_OK, EXIT_POLICY
from triage.models import Format, Schema

if TYPE_CHECKING:
    from triage.service.licenses import LicenseReport


@click.group()
def licenses() -> None:
    """Licenses of the locked packages, judged by [licenses] (SPEC §12)."""


def _json(report: LicenseReport) -> str:
    document = {
        "schema": Schema.LICENSES,
        "packages": [
            {
                "name": r.name,
                "version": r.version,
                "expression": r.info.expression if r.info else None,
                "source": r.info.source if r.info else None,
                "raw": r.info.raw if r.info and r.info.raw else None,
                "verdict": r.verdict.value,
                "level": r.level.value,
                "why": r.why,
            }
            for r in report.results
        ],
        "diagnostics": [
            {"code": d.code.value, "level": d.level.value, "message": d.message}
            for d in report.diagnostics
        ],
        "not_judged": report.not_judged,
        "fails": report.fails,
    }
    return json.dumps(document, indent=2) + "\n"


def _print_text(report: LicenseReport) -> None:
    from triage.cli.tables import console, print_licenses

    out = console()
    print_licenses(out, report.results)
    for d in report.diagnostics:
        out.print(f"{d.level.value}[{d.code.value}]: {d.message}", markup=False)
    failing = sum(1 for r in report.results if r.level.value == "deny")
    out.print(
        f"{len(report.results)} package(s), {failing} failing the license policy, "
        f"{report.not_judged} not judged"
    )


LICENSES: Renderers[LicenseReport] = {Format.TEXT: _print_text, Format.JSON: echoed(_json)}


@licenses.command("check")
@lockfile_options
@common_options(LICENSES)
def check(path: Path | None, lockfiles: tuple[Path, ...], *, common: Common) -> int:
    """Each locked package's license expression and verdict; exit 1 on a deny."""
    from triage.service import licenses as use_case

    with common.progress(common.at(path, lockfiles)) as shown:
        report = use_case.check(shown)
    for warning in report.warnings:
        common.say(f"warning: {warning}")
    common.show(LICENSES, report)
    return EXIT_POLICY if report.fails else EXIT_OK
