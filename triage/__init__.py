"""triage: dependency advisory triage for Python projects."""

__version__ = "0.1.0"
