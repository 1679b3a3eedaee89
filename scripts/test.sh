#!/usr/bin/env bash
# The test command: set-up, then the fast checks first (format, lint, unit tests), then the
# integration and end-to-end tests (real haproxy, etcd, kubernetes-validate, sandbox nodes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== unit tests"
cargo test --workspace --lib --bins
echo "== the test-only stand-in binary the sandbox tests package into images"
cargo build -p k8s-standin
echo "== integration and end-to-end tests"
cargo test --workspace --test '*'
