"""One finding key type (issue 22): `FindingKey(advisory group, package, repository | None)`,
one parser and one printer, round-tripping through every surface a key crosses: the command
line, JSON, an issue's marker, the store, a Celery task's outcome; for this repository's keys
and an organisation's alike."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.conftest import NOW
from tests.test_audit import local_audit
from tests.test_fail_closed import triage
from tests.test_rotation import synced
from triage import store
from triage.core import rotation, tracking
from triage.errors import InputError
from triage.models import FindingKey, Status
from triage.service import org_task

KEYS = [
    FindingKey("PYSEC-2023-212", "urllib3"),
    FindingKey("PYSEC-2023-212", "urllib3", "acme/service-001"),
    FindingKey("GHSA-xxxx-yyyy-zzzz", "zope-interface", "acme/a.b_c"),
]


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_a_key_round_trips_through_its_printer_parser_marker_and_task_codec(
    key: FindingKey, tmp_path: Path
) -> None:
    assert FindingKey.parse(str(key)) == key
    assert str(key).startswith(f"{key.repository}:" if key.repository else key.advisory)
    marker = tracking.KEY_MARKER.format(key=key)
    assert FindingKey.parse(tracking.key_in(f"body\n{marker}\n") or "") == key
    observed = rotation.Observed(key, key.advisory, key.package, ("2.0.0",), "high", False, None)
    outcome = org_task.RepoOutcome("acme/x", observed=[observed], statuses={key: "active"})
    back = org_task.outcome_from(json.loads(json.dumps(org_task.outcome_json(outcome))))
    assert back.observed == [observed] and back.statuses == {key: Status.ACTIVE.value}
    with store.Database(tmp_path / "k.db") as db:
        states = store.TriageStore(db)
        records, changes = rotation.observe({}, [observed], NOW, sla={"high": dt.timedelta(days=2)})
        states.save(records, changes)
        assert states.record(key) is not None and states.record(key).key == key  # type: ignore[union-attr]
        assert [c.key for c in states.history(key)] == [key]


@pytest.mark.parametrize(
    "text",
    ["PYSEC-1", "PYSEC-1/a/b", "../x:PYSEC-1/a", "acme/..:PYSEC-1/a", "a b/c", ":PYSEC-1/a"],
)
def test_a_malformed_key_is_bad_input_naming_both_forms(text: str) -> None:
    with pytest.raises(InputError) as raised:
        FindingKey.parse(text)
    assert "OWNER/REPO:ADVISORY/package" in str(raised.value)


def test_keys_the_queue_prints_are_the_keys_show_and_claim_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    local_audit(root, db, NOW)
    common = ["--db", str(db), "--config", str(root / "deny.toml")]
    code, out, _ = triage(capsys, "queue", *common, "--format", "json")
    listed = [FindingKey.parse(item["key"]) for item in json.loads(out)["findings"]]
    assert listed and all(k.repository is None for k in listed)
    for key in listed:
        code, out, _ = triage(capsys, "show", str(key), str(root), *common, "--format", "json")
        assert code == 0 and FindingKey.parse(json.loads(out)["key"]) == key
    code, out, _ = triage(capsys, "claim", str(listed[0]), "--as", "alice", *common)
    assert code == 0 and out.startswith(f"{listed[0]}: claimed")
