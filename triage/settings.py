"""The environment, read once per command (here and nowhere else); everything else is given
the `Settings` this builds."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from msgspec import Struct

from triage.errors import InputError

DEFAULT_DB = Path(".triage") / "triage.db"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_PYPI = "https://pypi.org"
DEFAULT_INDEX_TIMEOUT = 5.0
DEFAULT_INDEX_DEADLINE = 60.0
DEFAULT_GITHUB_BACKOFF = 0.5
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def _seconds(environ: Mapping[str, str], variable: str, default: float) -> float | InputError:
    """A number of seconds, or the error to raise when the value is used (a bad setting for
    GitHub must not stop a command that never talks to GitHub)."""
    text = environ.get(variable)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        return InputError(
            f"{variable}={text!r} is not a number of seconds",
            hint=f"unset it, or give seconds such as {default}",
        )


def _numbers(*values: float | InputError) -> list[float]:
    """The settings' numbers, or the first one's error raised now that it is used."""
    numbers = []
    for value in values:
        if isinstance(value, InputError):
            raise value
        numbers.append(value)
    return numbers


def _flag(environ: Mapping[str, str], variable: str) -> bool:
    return environ.get(variable, "").lower() in ("1", "true", "yes")


def _user(environ: Mapping[str, str]) -> str:
    """Who runs the command, as the history records it (getpass's order of variables)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(variable):
            return environ[variable]
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "unknown"


_SECRET = frozenset({"github_token", "broker_url"})  # never in a repr, so never logged


class Settings(Struct, frozen=True):
    github_token: str | None = None  # never shown: see __repr__
    github_api_url: str = DEFAULT_GITHUB_API
    github_backoff: float | InputError = DEFAULT_GITHUB_BACKOFF
    github_pace: float | InputError = 1.0
    db_path: Path | None = None  # TRIAGE_DB; else .triage/ at the repository's root
    pypi_url: str = DEFAULT_PYPI
    ci: bool = False
    user: str = "unknown"
    private_keys: Path = Path("~/.config/triage/keys")
    broker_url: str = DEFAULT_BROKER  # may hold a password: never shown
    # --engine celery: how long the coordinator waits for a first worker to answer, and for
    # the run's every task
    worker_wait: float | InputError = 30.0
    org_timeout: float | InputError = 3600.0
    # Plain http to this machine's loopback (tests, a local mirror); everything else is https.
    loopback_http: bool = False
    # The package index (provenance, license metadata): nothing fetched when offline; each
    # request bounded by index_timeout, the run's lookups by index_deadline (seconds).
    offline: bool = False
    index_timeout: float | InputError = DEFAULT_INDEX_TIMEOUT
    index_deadline: float | InputError = DEFAULT_INDEX_DEADLINE

    def __repr__(self) -> str:
        shown = (f"{n}={getattr(self, n)!r}" for n in self.__struct_fields__ if n not in _SECRET)
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return cls(
            github_token=env.get("GITHUB_TOKEN") or None,
            github_api_url=env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API,
            github_backoff=_seconds(env, "TRIAGE_GITHUB_BACKOFF", DEFAULT_GITHUB_BACKOFF),
            github_pace=_seconds(env, "TRIAGE_GITHUB_PACE", 1.0),
            db_path=Path(env["TRIAGE_DB"]) if env.get("TRIAGE_DB") else None,
            pypi_url=env.get("TRIAGE_PYPI_URL") or DEFAULT_PYPI,
            ci=bool(env.get("CI")),
            user=_user(env),
            private_keys=Path(config_home) / "triage" / "keys",
            broker_url=env.get("TRIAGE_BROKER_URL") or DEFAULT_BROKER,
            worker_wait=_seconds(env, "TRIAGE_WORKER_WAIT", 30.0),
            org_timeout=_seconds(env, "TRIAGE_ORG_TIMEOUT", 3600.0),
            loopback_http=_flag(env, "TRIAGE_LOOPBACK_HTTP"),
            offline=_flag(env, "TRIAGE_OFFLINE"),
            index_timeout=_seconds(env, "TRIAGE_INDEX_TIMEOUT", DEFAULT_INDEX_TIMEOUT),
            index_deadline=_seconds(env, "TRIAGE_INDEX_DEADLINE", DEFAULT_INDEX_DEADLINE),
        )

    def github_api(self) -> str:
        """GITHUB_API_URL, checked before any client is built on it."""
        from triage import http

        try:
            http.check_url(self.github_api_url, loopback_http=self.loopback_http)
        except InputError:
            raise InputError(
                f"GITHUB_API_URL={self.github_api_url!r} is not an https URL (plain http only "
                "to this machine with TRIAGE_LOOPBACK_HTTP=1)",
                hint=f"unset it for {DEFAULT_GITHUB_API}, or give your GitHub Enterprise API, "
                "e.g. https://github.example.com/api/v3",
            ) from None
        return self.github_api_url

    def broker_shown(self) -> str:
        """The broker URL as messages show it: without its password."""
        from urllib.parse import urlsplit, urlunsplit

        try:
            parts = urlsplit(self.broker_url)
            if parts.password is None:
                return self.broker_url
            host = parts.netloc.rsplit("@", 1)[1]
            user = f"{parts.username}:***@" if parts.username else ":***@"
            return urlunsplit(parts._replace(netloc=user + host))
        except ValueError:
            return "TRIAGE_BROKER_URL (not a URL)"

    def celery_timing(self) -> tuple[float, float]:
        """(worker wait, run timeout) of --engine celery; a malformed setting is bad input."""
        wait, timeout = _numbers(self.worker_wait, self.org_timeout)
        return wait, timeout

    def index_timing(self) -> tuple[float, float]:
        """(per-request timeout, the run's deadline) for the package index, in seconds."""
        timeout, deadline = _numbers(self.index_timeout, self.index_deadline)
        return timeout, deadline

    def github_timing(self) -> tuple[float, float]:
        """(backoff, pace) for the GitHub client; a malformed setting is bad input here."""
        backoff, pace = _numbers(self.github_backoff, self.github_pace)
        return backoff, pace
