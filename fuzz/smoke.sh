#!/usr/bin/env bash
# CI smoke test of the fuzz targets: builds them and runs each for ~15 s
# (about a minute for all four). Exits non-zero on a crash.
#
#   fuzz/smoke.sh [SECONDS]     default 15
set -euo pipefail
cd "$(dirname "$0")"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

exec ./run.sh "${1:-15}"
