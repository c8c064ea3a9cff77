"""Mutations of real files for the fuzz tests: each a deterministic function of a seed, so a
failure names a case that can be run again."""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import tomli_w

DEEP = 5000  # nesting well past any recursion limit a recursive parser keeps


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip(data: bytes, rng: random.Random) -> bytes:
    mutable = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if mutable:
            mutable[rng.randrange(len(mutable))] ^= rng.randint(1, 255)
    return bytes(mutable)


def _encode(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    encoding = rng.choice(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig"])
    return text.encode(encoding, "replace")


def _swap_value(value: Any, rng: random.Random) -> Any:
    return rng.choice([1, -1, 10**30, 1.5, True, "", "x" * 3, [], {}, [1, "a"], {"a": 1}])


def _walk(node: Any, rng: random.Random) -> Any:
    """Replace one value somewhere in a parsed document with one of another type."""
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        node[key] = _swap_value(node[key], rng) if rng.random() < 0.3 else _walk(node[key], rng)
    elif isinstance(node, list) and node:
        index = rng.randrange(len(node))
        node[index] = (
            _swap_value(node[index], rng) if rng.random() < 0.3 else _walk(node[index], rng)
        )
    else:
        return _swap_value(node, rng)
    return node


def _type_swap(data: bytes, rng: random.Random, kind: str) -> bytes:
    if kind == "json":
        document = json.loads(data)
        return json.dumps(_walk(document, rng)).encode()
    if kind == "toml":
        document = tomllib.loads(data.decode())
        mutated = _walk(document, rng)
        return tomli_w.dumps(mutated if isinstance(mutated, dict) else {"x": mutated}).encode()
    lines = data.decode("utf-8", "replace").splitlines()
    if lines:
        lines[rng.randrange(len(lines))] = rng.choice(
            ["-r", "--hash", "==1.0", "x[", "x==1.0; python_version <", "-e", "x @", "\\"]
        )
    return "\n".join(lines).encode()


def _nest(data: bytes, rng: random.Random, kind: str) -> bytes:
    if kind == "json":
        return b"[" * DEEP + b"]" * DEEP
    if kind == "toml":
        return b"x = " + b"[" * DEEP + b"]" * DEEP + b"\n" + data
    # Requirements files do not nest: many unbalanced brackets on a few lines instead.
    return data + (b"\n" + b"x[" * 200) * 5 + b"\n"


def _huge(data: bytes, rng: random.Random, kind: str) -> bytes:
    digits = b"9" * rng.choice([400, 5000, 100_000])
    if kind == "json":
        return b'{"_meta": {"n": ' + digits + b"}, " + data.lstrip()[1:]
    if kind == "toml":
        return b"n = " + digits + b"\nversion = " + digits + b"\n" + data
    return data + b"\nx==" + digits + b"\n"


Mutation = Callable[[bytes, random.Random, str], bytes]
MUTATIONS: dict[str, Mutation] = {
    "truncate": lambda data, rng, kind: _truncate(data, rng),
    "flip": lambda data, rng, kind: _flip(data, rng),
    "encoding": lambda data, rng, kind: _encode(data, rng),
    "type-swap": _type_swap,
    "nest": _nest,
    "huge": _huge,
}


def seed_corpus(data: bytes, kind: str, keep: int = 30) -> bytes:
    """A real file cut down to its first `keep` entries per list (and still valid), so that a
    few hundred mutations of a 1.8 MB uv.lock stay within the suite's time."""
    if kind == "json":
        document = json.loads(data)
        for section in ("default", "develop"):
            if isinstance(document.get(section), dict):
                document[section] = dict(list(document[section].items())[:keep])
        return json.dumps(document, indent=4).encode()
    if kind == "toml":
        document = tomllib.loads(data.decode())
        for key in ("package", "packages"):
            if isinstance(document.get(key), list):
                document[key] = document[key][:keep]
        return tomli_w.dumps(document).encode()
    return data


def mutate(data: bytes, kind: str, index: int, seed: int) -> tuple[str, bytes]:
    """Case `index` of a seed: the kinds of mutation take turns."""
    name = list(MUTATIONS)[index % len(MUTATIONS)]
    rng = random.Random(seed * 100_003 + index)
    return f"{name}#{index}", MUTATIONS[name](data, rng, kind)


def cases(data: bytes, kind: str, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """`count` mutations of `data`, cycling through the kinds of mutation."""
    for index in range(count):
        yield mutate(data, kind, index, seed)
