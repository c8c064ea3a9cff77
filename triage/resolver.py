"""uv, the resolver every fix is checked by (the `fix` extra installs it from PyPI): run as a
program in a folder triage made, against the one index triage is configured with, building
forbidden, with an environment of triage's choosing (no UV_* setting, token or index the
caller's environment holds reaches it). Nothing here decides what to resolve; the service
does."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from msgspec import Struct

from triage.errors import InputError

# Kept from the caller's environment: what a program needs to run and reach the network.
_PASSED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
_PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
RUN_TIMEOUT = 300.0  # one resolution; uv's own HTTP timeout bounds each request


class Index(Struct, frozen=True):
    """Where and how uv may look for releases."""

    simple_url: str  # the index's simple API, e.g. https://pypi.org/simple
    cache: Path  # uv's cache, kept with triage's database
    offline: bool
    timeout: float  # seconds per request
    # Called about every second while uv runs: the run's progress says it is still working.
    waiting: Callable[[], None] | None = None


class Resolution(Struct, frozen=True):
    ok: bool
    message: str  # uv's explanation when it failed (its `error:` lines), else ""
    needs_build: bool = False  # it failed because a source distribution would need building
    # It failed before resolving anything: no interpreter the project requires, the index
    # out of reach. Another release would fail the same way.
    cannot_run: bool = False


def uv_binary() -> str:
    """The uv program the fix extra installs; its absence is bad input with the install line."""
    from triage.extras import Extra, require

    require(Extra.FIX, "triage fix")
    from uv import find_uv_bin

    return str(find_uv_bin())


def _environment(index: Index) -> dict[str, str]:
    env = {k: os.environ[k] for k in (*_PASSED, *_PROXIES) if k in os.environ}
    env.update(
        UV_CACHE_DIR=str(index.cache),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_CONFIG="1",
        UV_HTTP_TIMEOUT=f"{max(1, round(index.timeout))}",
        UV_NO_PROGRESS="1",
        NO_COLOR="1",
    )
    if index.offline:
        env["UV_OFFLINE"] = "1"
    return env


def _common(index: Index) -> list[str]:
    return ["--no-build", "--default-index", index.simple_url, "--no-config", "--quiet"]


def run(arguments: Sequence[str], folder: Path, index: Index) -> Resolution:
    """uv with `arguments` in `folder`; a failure to resolve is a Resolution, a uv that cannot
    be run at all an error."""
    command = [uv_binary(), *arguments, *_common(index)]
    try:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=_environment(index),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise InputError(f"uv could not be run: {exc.strerror}") from exc
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        try:
            _, stderr = process.communicate(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                process.communicate()
                return Resolution(False, f"uv did not finish in {RUN_TIMEOUT:g} s")
            if index.waiting is not None:
                index.waiting()
    if process.returncode == 0:
        return Resolution(True, "")
    text = stderr.decode("utf-8", "replace")
    return Resolution(
        False, explanation(text), needs_build=_needs_build(text), cannot_run=_cannot_run(text)
    )


def explanation(stderr: str) -> str:
    """uv's reason, without its chatter (which interpreter it used, hints on flags)."""
    lines = [line.rstrip() for line in stderr.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    kept = lines[start:] if start is not None else lines[-5:]
    words = " ".join(line.strip() for line in kept if line.strip() and "hint:" not in line)
    words = words.removeprefix("error: ").replace(" cause: ", ": ")
    return words[:800]


_CANNOT_RUN = (
    "python interpreter",
    "incompatible with the project's python requirement",
    "no interpreter found",
    "failed to fetch",
    "error sending request",
    "network connectivity is disabled",
)


def _cannot_run(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(words in lowered for words in _CANNOT_RUN)


def _needs_build(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(
        words in lowered
        for words in ("building source distributions is disabled", "--no-build", "no usable wheels")
    )


def lock(folder: Path, upgrades: Sequence[str], index: Index) -> Resolution:
    """`uv lock` in `folder` with only `upgrades` ("name" or "name==version") allowed to move:
    every other package keeps its locked version unless the upgrade forces it."""
    arguments = ["lock"]
    for upgrade in upgrades:
        arguments += ["--upgrade-package", upgrade]
    return run(arguments, folder, index)


def compile_requirements(
    folder: Path,
    sources: Sequence[str],
    output: Path,
    *,
    options: Sequence[str],
    upgrades: Sequence[str],
    index: Index,
) -> Resolution:
    """`uv pip compile SOURCES -o OUTPUT` in `folder` with the file's own options (checked by
    the caller); OUTPUT's current pins are kept unless `upgrades` move them."""
    arguments = ["pip", "compile", *sources, "--output-file", str(output), *options]
    for upgrade in upgrades:
        arguments += ["--upgrade-package", upgrade]
    return run(arguments, folder, index)
