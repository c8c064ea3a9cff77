"""The ignore ledger's rules for edits: how long an ignore may last, what a tracking issue
address looks like, which entry an `unignore` names, and which recorded findings an edit
covers. Pure: `today` and the current entries come in."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from triage.core.matching import normalize_name
from triage.core.policy import is_expired
from triage.errors import InputError
from triage.models import IgnoreRule, TriageRecord, TriageState

DEFAULT_IGNORE_DAYS = 90
LONGEST_IGNORE_DAYS = 365


def expiry(expires: str | None, today: dt.date, force: bool) -> dt.date:
    """The end of a new ignore: 90 days by default, in the future, at most a year unless
    forced."""
    if expires is None:
        return today + dt.timedelta(days=DEFAULT_IGNORE_DAYS)
    try:
        date = dt.date.fromisoformat(expires)
    except ValueError:
        raise InputError(
            f"--expires {expires!r} is not a date", hint="write YYYY-MM-DD, e.g. 2027-01-31"
        ) from None
    if date <= today:
        raise InputError(
            f"--expires {date.isoformat()} is not in the future",
            hint="an ignore must end after today",
        )
    if (date - today).days > LONGEST_IGNORE_DAYS and not force:
        raise InputError(
            f"--expires {date.isoformat()} is more than a year away",
            hint="ignores are meant to be revisited; pass --force to accept a longer one",
        )
    return date


def valid_issue_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+/\S*", url):
        raise InputError(
            f"--issue {url!r} is not a URL",
            hint="give the tracking issue's address, e.g. https://github.com/acme/app/issues/12",
        )
    return url


def standing_ignore(
    rules: Sequence[IgnoreRule], advisory: str, package: str | None, *, today: dt.date
) -> IgnoreRule | None:
    """An unexpired entry that already ignores `advisory` with the same scope."""
    return next(
        (
            rule
            for rule in rules
            if rule.id == advisory and rule.package == package and not is_expired(rule, today)
        ),
        None,
    )


def entry_to_remove(rules: Sequence[IgnoreRule], ident: str, config_path: str) -> IgnoreRule:
    """The one entry `ident` (an advisory id, or ID/package when several share the id) names."""
    advisory, _, package = ident.partition("/")
    wanted_package = normalize_name(package) if package else None
    chosen = [
        r
        for r in rules
        if r.id == advisory and (wanted_package is None or r.package in (None, wanted_package))
    ]
    if len(chosen) > 1 and wanted_package is not None:
        chosen = [r for r in chosen if r.package == wanted_package] or chosen
    if not chosen:
        listed = ", ".join(sorted({r.id for r in rules})) or "none"
        raise InputError(
            f"{config_path}: no ignore entry matches {ident!r} (ignored ids: {listed})",
            hint="name an advisory id as it appears in advisories.ignore",
        )
    if len(chosen) > 1:
        places = ", ".join(f"advisories.ignore[{r.index}]" for r in chosen)
        raise InputError(
            f"{config_path}: {ident!r} matches several entries ({places})",
            hint=f"name one as {advisory}/PACKAGE",
        )
    return chosen[0]


def covered_records(
    records: Sequence[TriageRecord], advisory: str, package: str | None
) -> list[TriageRecord]:
    """The recorded, unfixed findings an ignore covers: the advisory in `package`, or in every
    package when the ignore names none. Their history gets the ledger change."""
    return [
        r
        for r in records
        if r.advisory == advisory
        and package in (None, r.package)
        and r.state is not TriageState.FIXED
    ]
