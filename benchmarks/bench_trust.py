"""Trust figures (issue 5): `triage trust check` over 200 artifacts with cached provenance,
offline.

    .venv/bin/python benchmarks/bench_trust.py

Only four real attestations exist (../shared/data/pep740), so two figures are printed: the
whole command on a 200-artifact lockfile whose provenance is all in the cache (two real
attestations, the rest cached as "PyPI has none"), and the cost of verifying a real
attestation 200 times over, which is what 200 attested artifacts would add. Asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import DATA, TRIAGE, timed
from triage import store
from triage.provenance import attestations

PEP740 = DATA / "pep740"
REAL = "pypi_attestations-0.0.19.tar.gz"


def main() -> None:
    digests = {
        n: i["sha256"] for n, i in json.loads((PEP740 / "distributions.json").read_text()).items()
    }
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-trust-"))
    try:
        db_path = scratch / "t.db"
        db = store.Database(db_path)
        caches = store.Caches(db)
        entries = []
        for index in range(200):
            if index == 0:
                name, version, filename, sha = "pypi-attestations", "0.0.19", REAL, digests[REAL]
                caches.cache_provenance(
                    filename,
                    sha,
                    (PEP740 / f"{REAL}.provenance").read_text(),
                    fetched=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
                )
            else:
                name, version = f"package-{index}", "1.0"
                filename, sha = f"package_{index}-1.0.tar.gz", f"{index:064x}"
                caches.cache_provenance(
                    filename, sha, "", fetched=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
                )
            entries.append(
                f'[[packages]]\nname = "{name}"\nversion = "{version}"\nsdist = {{ name = '
                f'"{filename}", url = "https://files.example/{filename}", hashes = {{ sha256 = '
                f'"{sha}" }} }}\n'
            )
        db.close()
        (scratch / "pylock.toml").write_text(
            'lock-version = "1.0"\ncreated-by = "bench"\n' + "".join(entries)
        )
        command = [
            TRIAGE,
            "trust",
            "check",
            str(scratch),
            "--db",
            str(db_path),
            "--format",
            "json",
            "-q",
        ]
        env_free = {"TRIAGE_PYPI_URL": "http://127.0.0.1:9", "TRIAGE_LOOPBACK_HTTP": "1"}
        whole, done = timed(["env", *(f"{k}={v}" for k, v in env_free.items()), *command], runs=3)
        verdicts = [a["verdict"] for a in json.loads(done.stdout)["artifacts"]]
        print(
            f"trust check, 200 artifacts, cached provenance, offline: {whole:.2f} s "
            f"({verdicts.count('trusted')} trusted, {verdicts.count('unsigned')} unsigned)"
        )
        claims = attestations.parse_claims(
            (PEP740 / f"{REAL}.provenance").read_text(), REAL, provenance_object=True
        )
        attestations.verify(
            "pypi-attestations", "0.0.19", REAL, sha256=digests[REAL], claims=claims
        )
        start = time.perf_counter()
        for _ in range(200):
            attestations.verify(
                "pypi-attestations", "0.0.19", REAL, sha256=digests[REAL], claims=claims
            )
        each = (time.perf_counter() - start) / 200
        print(
            f"verifying one real attestation: {each * 1000:.1f} ms; 200 attested artifacts "
            f"would add {each * 200:.2f} s, {whole + each * 199:.2f} s in all (target < 3 s)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
