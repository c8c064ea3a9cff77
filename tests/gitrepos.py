"""Real git repositories in temporary folders, for the diff and PR scenarios."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, input_text: str | None = None) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
            input=input_text,
        )
        return done.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(
        self, message: str, paths: dict[str, str | None] | None = None, **files: str | None
    ) -> str:
        """Write (or, for None, delete) files given as {path: text}, or as keywords with
        '_dot_' for '.' and '__' for '/'; then commit everything."""
        named = {k.replace("__", "/").replace("_dot_", "."): v for k, v in files.items()}
        for path, text in (paths or {}).items() | named.items():
            if text is None:
                self.git("rm", "-q", path)
            else:
                self.write(path, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str) -> None:
        self.git("checkout", "-q", "-b", name)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)
