"""Advisory sources: `records` turns OSV / PyPA record bytes into `Advisory`
facts; `listing` finds them in a directory, a git checkout, an export zip or the embedded
snapshot."""

from triage.sources.listing import (
    MAX_ZIP_ENTRY_RATIO,
    MAX_ZIP_EXPANDED_BYTES,
    OSV_EXPORT_URL,
    SNAPSHOT_RESOURCE,
    SNAPSHOT_SOURCE,
    Entry,
    SourceListing,
    fingerprint,
    iter_decoded,
    list_source,
    resolve_source,
    scratch_dir,
    snapshot_listing,
    write_snapshot,
)
from triage.sources.records import decode_record, facts, parse_record, record_digest

__all__ = [
    "MAX_ZIP_ENTRY_RATIO",
    "MAX_ZIP_EXPANDED_BYTES",
    "OSV_EXPORT_URL",
    "SNAPSHOT_RESOURCE",
    "SNAPSHOT_SOURCE",
    "Entry",
    "SourceListing",
    "decode_record",
    "facts",
    "fingerprint",
    "iter_decoded",
    "list_source",
    "parse_record",
    "record_digest",
    "resolve_source",
    "scratch_dir",
    "snapshot_listing",
    "write_snapshot",
]
