"""Scheduled jobs: thin callables the scheduler runs; they only call `triage.service`."""
