"""Use cases, one module each (sync, scan, diff, audit, trust, rotation, ledger), all working
in a `Workspace`. The edges feed the pure core here, and nowhere else."""

from triage.service.workspace import Progress, Workspace

__all__ = ["Progress", "Workspace"]
