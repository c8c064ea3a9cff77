"""Codes, modes and states are enums: each value unique (an alias would silently merge two)
and each one documented in README.md or docs/, where users look them up."""

from __future__ import annotations

import re
from enum import Enum

import pytest

from tests.conftest import REPOSITORY
from triage.cli.rotation import SEVERITY_CHOICES
from triage.core.policy import LINT_CODES
from triage.models import (
    Justification,
    Level,
    LicensesConfig,
    LicenseVerdict,
    LintCode,
    Severity,
    TriageState,
    TrustMode,
    Verdict,
)

# Where users look codes up: the reference (docs/) and the README.
DOCUMENTED = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
)
SECURITY = (REPOSITORY / "docs" / "security.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "kind",
    [LintCode, TrustMode, TriageState, Level, Severity, Verdict, LicenseVerdict, Justification],
)
def test_values_are_unique_and_documented(kind: type[Enum]) -> None:
    members = list(kind.__members__.values())
    values = [m.value for m in members]
    assert len(set(values)) == len(values) == len(kind.__members__)
    words = [m.name.lower() if kind is Severity else str(m.value) for m in members]
    undocumented = [w for w in words if f"`{w}`" not in DOCUMENTED]
    assert not undocumented, f"neither README.md nor docs/ names {undocumented}"


def test_every_ledger_lint_has_a_default_level() -> None:
    own_keys = {LintCode.UNUSED_IGNORED_ADVISORY, LintCode.STALE_DB, LintCode.UNPINNED}
    license_lints = {code for code in LintCode if code.value.startswith("license-")}
    ledger_lints = set(LintCode) - own_keys - license_lints
    assert set(LINT_CODES) == ledger_lints
    # [licenses] keys of their own, each with a documented default.
    defaults = {code: LicensesConfig().level(code) for code in license_lints}
    assert defaults == {
        LintCode.LICENSE_NOT_ALLOWED: Level.DENY,
        LintCode.LICENSE_UNKNOWN: Level.WARN,
        LintCode.LICENSE_EXCEPTION_UNUSED: Level.WARN,
        LintCode.LICENSE_CLARIFY_UNUSED: Level.WARN,
    }


def test_the_cli_offers_every_severity_a_finding_can_have() -> None:
    ranked = sorted(Severity, key=lambda severity: severity.value, reverse=True)
    assert tuple(s.label for s in ranked if s is not Severity.NONE) == SEVERITY_CHOICES


def test_every_test_the_threat_model_cites_exists() -> None:
    """The threat model (docs/security.md) names the test holding each line; each must be a
    real test."""
    section = SECURITY.split("## Threat model", 1)[1].split("\n## ", 1)[0]
    cited = re.findall(r"`((?:test_\w+\.py::)?test_\w+|test_\w+\.py)`", section)
    assert len(cited) >= 15
    for name in cited:
        module, _, function = name.rpartition("::") if "::" in name else ("", "", name)
        if name.endswith(".py"):
            module, function = name, ""
        source = (REPOSITORY / "tests" / (module or "test_fail_closed.py")).read_text()
        assert not function or f"def {function}(" in source, name
