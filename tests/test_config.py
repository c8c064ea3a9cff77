"""deny.toml: parse and validate, every error with its key path, cargo-deny forms accepted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from triage.config import load_config, parse_config, parse_duration
from triage.errors import ConfigError
from triage.models import Level, Severity


def test_absent_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "deny.toml", required=False)
    assert config.advisories.sources == ("osv:PyPI",)
    assert config.advisories.maximum_db_staleness == dt.timedelta(days=7)
    assert config.advisories.unknown_severity is Severity.HIGH
    assert config.sla["medium"] == dt.timedelta(days=14)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "deny.toml", required=True)


def test_cargo_deny_forms_and_extended_entries_parse() -> None:
    config = parse_config(
        """
[advisories]
ignore = [
  "RUSTSEC-2020-0001",
  { id = "PYSEC-2021-335", reason = "not reachable" },
  { id = "CVE-2021-32807", package = "AccessControl", reason = "off", \
issue = "https://github.com/acme/app/issues/12", expires = 2027-01-31 },
]
severity-threshold = "medium"
stale-db = "deny"
maximum-db-staleness = "P1DT12H"
""",
        "deny.toml",
    )
    rules = config.advisories.ignore
    assert [r.id for r in rules] == ["RUSTSEC-2020-0001", "PYSEC-2021-335", "CVE-2021-32807"]
    assert rules[0].reason is None and rules[1].reason == "not reachable"
    assert rules[2].package == "accesscontrol" and rules[2].expires == dt.date(2027, 1, 31)
    assert config.advisories.stale_db is Level.DENY
    assert config.advisories.maximum_db_staleness == dt.timedelta(days=1, hours=12)


def test_every_problem_is_reported_with_its_key_path() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(
            """
[advisories]
ignore = [
  "A-1",
  { id = "A-2" },
  { id = "A-3", expires = "soon", color = "red" },
]
stale-db = "maybe"
db-urls = ["x"]
[trust]
mode = "paranoid"
[sla]
high = "two days"
[github]
repository = "not a repo"
[bans]
""",
            "ci/deny.toml",
        )
    problems = raised.value.problems
    assert any(p.startswith("advisories.ignore[2].expires: 'soon' is not a date") for p in problems)
    assert any(p.startswith("advisories.ignore[2].color: unknown key") for p in problems)
    assert any(p.startswith("advisories.stale-db: 'maybe'") for p in problems)
    assert any(p.startswith("advisories.db-urls: unknown key") for p in problems)
    assert any(p.startswith("trust.mode: 'paranoid'") for p in problems)
    assert any(p.startswith("sla.high: 'two days'") for p in problems)
    assert any(p.startswith("github.repository:") for p in problems)
    assert any(p.startswith("bans: unknown key") for p in problems)
    assert len(problems) == 8
    assert str(raised.value).startswith("ci/deny.toml: 8 problem(s)")


def test_wrong_types_and_bad_toml() -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML: .*\(at line 2, column \d+\)"):
        parse_config('[advisories]\nignore = [{ id = "A", expires = 2027-13-01 }]', "d.toml")
    with pytest.raises(ConfigError, match=r"advisories.ignore\[0\].issue: .*not an http\(s\) URL"):
        parse_config('[advisories]\nignore = [{ id = "A", issue = "#12" }]', "d.toml")
    with pytest.raises(ConfigError, match=r"advisories.ignore\[0\].expires"):
        parse_config('[advisories]\nignore = [{ id = "A", expires = "2027-02-30" }]', "d.toml")
    with pytest.raises(ConfigError, match=r"advisories\.sources: .*not a list of strings"):
        parse_config("[advisories]\nsources = 'osv:PyPI'", "d.toml")


def test_durations() -> None:
    assert parse_duration("P7D") == dt.timedelta(days=7)
    assert parse_duration("P2W") == dt.timedelta(weeks=2)
    assert parse_duration("PT36H") == dt.timedelta(hours=36)
    for bad in ("P", "PT", "7D", "P1M", "P1DT"):
        assert parse_duration(bad) is None, bad


def test_an_impossible_date_is_named_with_its_line(tmp_path: Path) -> None:
    """TOML reads 2026-12-32 as no date and complains of an unclosed table after it."""
    config = tmp_path / "deny.toml"
    config.write_text(
        '[advisories]\nignore = [{ id = "PYSEC-1", reason = "r", '
        'issue = "https://x.org/1", expires = 2026-12-32 }]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config, required=True)
    assert raised.value.problems[0] == (
        "line 2: 2026-12-32 is not a date of the calendar (write YYYY-MM-DD, e.g. 2027-01-31)"
    )


@pytest.mark.parametrize(
    "repository",
    [
        "owner/name/../../orgs/other",  # would be a path of GitHub's API
        "owner/name\nx",
        "owner/..",
        "-owner/name",
        "owner/name?page=2",
    ],
)
def test_a_repository_is_githubs_owner_name_wherever_it_is_given(
    repository: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """deny.toml's [github] repository, [org] issues' central repository and `--repo` follow
    one rule (models.is_repository)."""
    from triage.cli import main

    quoted = repository.replace("\n", "\\n")
    for text, key in (
        (f'[github]\nrepository = "{quoted}"\n', "github.repository"),
        (f'[org]\nissues = "central:{quoted}"\n', "org.issues"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "deny.toml")
        assert any(p.startswith(f"{key}:") for p in caught.value.problems), caught.value.problems
    (tmp_path / "requirements.txt").write_text("")
    for argv in (
        ["audit", str(tmp_path), "--repo", repository],
        ["pr", str(tmp_path), "--repo", repository, "--pr", "1", "--base", "main"],
    ):
        code = main([*argv, "--db", str(tmp_path / "t.db")])
        err = capsys.readouterr().err
        assert code == 2 and "is not OWNER/NAME" in err and "Traceback" not in err, (argv, err)
    assert parse_config('[github]\nrepository = "acme/api.v2"\n', "deny.toml").github.repository
