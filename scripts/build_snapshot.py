"""Build the embedded offline snapshot (facts only) from a directory of advisory records.

    python scripts/build_snapshot.py [../shared/data/pypa-advisory-db]

Writes triage/data/advisories-snapshot.json.gz: ids, aliases, dates, affected ranges and
versions, severity vectors, reference URLs and each record's one-line summary. Deterministic
for the same input. Uses this checkout's triage, not the installed one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from triage import sources  # noqa: E402
from triage.core.diagnostics import Diagnostics  # noqa: E402

DEFAULT_SOURCE = REPOSITORY.parent / "shared" / "data" / "pypa-advisory-db"
TARGET = REPOSITORY / "triage" / "data" / sources.SNAPSHOT_RESOURCE


def main(argv: list[str]) -> int:
    source = argv[1] if len(argv) > 1 else str(DEFAULT_SOURCE)
    said = Diagnostics()
    with tempfile.TemporaryDirectory() as scratch:
        listing = sources.list_source(source, Path(scratch))
        advisories = [
            advisory
            for _, advisory in sources.iter_decoded(listing, listing.entries, said)
            if advisory.affected
        ]
    sources.write_snapshot(advisories, TARGET)
    for warning in said.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{TARGET.relative_to(REPOSITORY)}: {len(advisories)} records, "
        f"{TARGET.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
