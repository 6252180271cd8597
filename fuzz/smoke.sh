#!/usr/bin/env bash
# CI smoke test of the fuzz targets: builds them and runs each for ~15 s
# (one and a half minutes for all six). Exits non-zero on a crash.
#
#   fuzz/smoke.sh [SECONDS]     default 15
set -euo pipefail
cd "$(dirname "$0")"

# cargo-fuzz needs nightly. This machine kind ships one; a machine without it
# cannot build the targets at all, so say so loudly rather than fail CI on a
# missing toolchain (the target bodies still run in `cargo test -p vip-core`).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "smoke: SKIPPED: no nightly toolchain on this machine; fuzz targets not built" >&2
  exit 0
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

exec ./run.sh "${1:-15}"
