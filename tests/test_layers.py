"""The core does no I/O (DESIGN.md): no module of `triage/core` or `triage/models` imports
anything that reaches the disk, the network, another process or the clock, nor calls `open`,
`print`, `input`, or reads the time (`now`, `today`, `utcnow`, `time`). `now` is a parameter.
The import contracts (layers) are import-linter's, run by ./dev test; this is the contract
import-linter cannot state, checked on the source itself. And a seam rule: past three,
arguments are passed by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY

PURE = [REPOSITORY / "triage" / "core", REPOSITORY / "triage" / "models"]
IO_MODULES = {
    "os",
    "io",
    "sys",
    "time",
    "subprocess",
    "socket",
    "sqlite3",
    "urllib",
    "http",
    "shutil",
    "tempfile",
    "glob",
    "ssl",
    "select",
    "asyncio",
    "threading",
    "multiprocessing",
    "requests",
    "pathlib",
}
IO_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
CLOCK_READS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


def io_in(source: str, name: str) -> list[str]:
    """Every import of an I/O module, call of an I/O builtin or read of the clock in
    `source`, as `name:line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [
                f"{name}:{node.lineno}: imports {m}"
                for m in modules
                if m.split(".")[0] in IO_MODULES
            ]
        if isinstance(node, ast.Call):
            called = node.func
            if isinstance(called, ast.Name) and called.id in IO_CALLS:
                found.append(f"{name}:{node.lineno}: calls {called.id}()")
            if isinstance(called, ast.Attribute) and called.attr in CLOCK_READS:
                found.append(f"{name}:{node.lineno}: reads the clock (.{called.attr}())")
    return found


def test_the_checker_finds_what_it_is_for() -> None:
    sample = (
        "import subprocess\nfrom urllib.request import urlopen\nimport datetime as dt\n"
        "def f():\n    open('x')\n    return dt.datetime.now()\n"
    )
    assert io_in(sample, "sample.py") == [
        "sample.py:1: imports subprocess",
        "sample.py:2: imports urllib.request",
        "sample.py:5: calls open()",
        "sample.py:6: reads the clock (.now())",
    ]


@pytest.mark.parametrize(
    "module",
    sorted(p for folder in PURE for p in folder.rglob("*.py")),
    ids=lambda p: str(p.relative_to(REPOSITORY)),
)
def test_the_core_does_no_io(module: Path) -> None:
    assert io_in(module.read_text(), str(module.relative_to(REPOSITORY))) == []


# Library callbacks whose signature is the library's: urllib calls it positionally.
LIBRARY_SIGNATURES = {"http_error_302"}
MAX_POSITIONAL = 3


def crowded(source: str, name: str) -> list[str]:
    """Every function of `source` taking more than MAX_POSITIONAL positional parameters
    (self and cls apart): past three, arguments are passed by name, so two of one type
    (two Configs, two sides) cannot be swapped unseen."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        positional = [a.arg for a in node.args.posonlyargs + node.args.args]
        if positional[:1] in (["self"], ["cls"]):
            positional = positional[1:]
        if len(positional) > MAX_POSITIONAL and node.name not in LIBRARY_SIGNATURES:
            found.append(f"{name}:{node.lineno}: {node.name}({', '.join(positional)})")
    return found


def test_arguments_past_the_third_are_passed_by_name() -> None:
    assert crowded("def f(a, b, c, *, d):\n    pass\n", "ok.py") == []
    assert crowded("class C:\n    def m(self, a, b, c, d): ...\n", "c.py") == [
        "c.py:2: m(a, b, c, d)"
    ]
    found = [
        problem
        for path in sorted((REPOSITORY / "triage").rglob("*.py"))
        for problem in crowded(path.read_text(), str(path.relative_to(REPOSITORY)))
    ]
    assert found == []
