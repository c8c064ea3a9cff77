#!/usr/bin/env bash
# Installs triage for the GitHub Action (action.yml) and for benchmarks/bench_ci.py, which
# times exactly this: uv from PyPI (hash-pinned, pip --target, no venv of its own), then the
# gate's locked dependencies into a venv without pip, then triage itself, bytecode compiled.
# A venv restored from the cache (keyed by the digest this script prints with `key`) is used
# as it is when it already holds this triage.
#
#   scripts/action-setup.sh key              the venv's cache key (locks and source)
#   scripts/action-setup.sh install VENV     install into VENV (unless it is already there)
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
python=${PYTHON:-python3}

digest() {
  (cd "$source_dir" && find requirements.txt requirements-uv.txt pyproject.toml triage \
    -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

phase() {  # one line per phase: what and how long
  local label=$1 start=$2
  printf 'triage setup: %s in %.1f s\n' "$label" "$(echo "$(date +%s.%N) - $start" | bc)"
}

case "${1:-}" in
  key)
    echo "triage-venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$(digest)"
    ;;
  install)
    venv=$2
    stamp="$venv/.triage-$(digest)"
    if [ -f "$stamp" ] && "$venv/bin/triage" --version >/dev/null 2>&1; then
      echo "triage setup: the cached venv holds this triage"
      exit 0
    fi
    rm -rf "$venv"
    tools=$(mktemp -d)
    start=$(date +%s.%N)
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
      --target "$tools" -r "$source_dir/requirements-uv.txt"
    phase "uv" "$start"
    uv="$tools/bin/uv"
    start=$(date +%s.%N)
    "$uv" venv --quiet --python "$python" "$venv"
    # Not byte-compiled here: compiling all 53 packages costs 2.5 s on 2 cores, while a run
    # compiles only the modules it imports (and a cached venv keeps them).
    "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes \
      -r "$source_dir/requirements.txt"
    phase "$(grep -cE '^[a-z0-9]' "$source_dir/requirements.txt") locked dependencies" "$start"
    start=$(date +%s.%N)
    # triage is pure Python: its package is copied in and byte-compiled, with the entry point
    # pip would write; no build backend runs (a setuptools build costs a second here).
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    cp -r "$source_dir/triage" "$site/triage"
    find "$site/triage" -name __pycache__ -prune -exec rm -rf {} +
    "$venv/bin/python" -m compileall -q -j 0 "$site/triage" >/dev/null
    printf '#!%s\nfrom triage.cli import console\nconsole()\n' \
      "$venv/bin/python" >"$venv/bin/triage"
    chmod +x "$venv/bin/triage"
    rm -rf "$tools"
    phase "triage" "$start"
    touch "$stamp"
    ;;
  *)
    echo "usage: $0 key | install VENV" >&2
    exit 2
    ;;
esac
