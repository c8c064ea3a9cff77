"""Error types, each carrying the exit code of SPEC §6 and a message meant for a person."""

from __future__ import annotations

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INPUT = 2
EXIT_DATABASE = 3
EXIT_UPSTREAM = 4
EXIT_INTERNAL = 5  # a bug: never read as a pass, nor as "the policy fails"


class TriageError(Exception):
    """Base of every error a user can cause; the CLI prints `str(error)` and exits."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class InputError(TriageError):
    """Bad usage or input: config, lockfile, arguments, advisory records (exit 2)."""


class LockfileError(InputError):
    """A lockfile that cannot be read as what its name says."""


class ConfigError(InputError):
    """deny.toml is malformed; carries every problem found, each with its key path."""

    def __init__(self, path: str, problems: list[str], *, hint: str | None = None) -> None:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"{path}: {len(problems)} problem(s) in the configuration:\n{listing}",
            hint=hint or "correct the keys named above; every key is in docs/configuration.md",
        )
        self.problems = problems


class AdvisoryRecordError(InputError):
    """An advisory record that breaks the OSV schema where matching depends on it."""


class DatabaseError(TriageError):
    """The advisory database is missing or unusable (exit 3)."""

    exit_code = EXIT_DATABASE


class UpstreamError(TriageError):
    """A network source or GitHub failed after retries (exit 4)."""

    exit_code = EXIT_UPSTREAM
