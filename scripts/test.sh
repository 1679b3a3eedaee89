#!/usr/bin/env bash
# The test command: set-up, then the fast checks first (format, lint, unit tests), then the
# sandbox's images (the upstream Kubernetes components, built from source when no registry
# answers; cached per version, so only a fresh machine pays for it), then the integration
# and end-to-end tests (real haproxy, etcd, kubernetes-validate, sandbox nodes running the
# real components). Each stage's time is printed as it ends and again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# The upgrade test needs the components of two versions.
VERSIONS="${K8S_MANAGE_TEST_VERSIONS:-v1.35.4,v1.36.1}"

stages=()
started_all=$(date +%s)
stage() {
    local name="$1"
    shift
    echo "== $name"
    local start=$(date +%s)
    "$@"
    local took=$(($(date +%s) - start))
    stages+=("$(printf '%6ds  %s' "$took" "$name")")
    echo "== $name: ${took}s"
}
summary() {
    echo "== stage times"
    printf '%s\n' "${stages[@]}"
    echo "$(printf '%6ds  %s' $(($(date +%s) - started_all)) total)"
}
trap summary EXIT

stage "set-up (scripts/setup.sh)" bash scripts/setup.sh
# setup.sh may have installed Go into /usr/local/bin.
export PATH="/usr/local/bin:$PATH"
stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
stage "unit tests" cargo test --workspace --lib --bins
stage "sandbox images for $VERSIONS (built from source the first time)" \
    cargo run --quiet -- sandbox build --versions "$VERSIONS"
stage "build the integration and end-to-end tests" cargo test --workspace --test '*' --no-run --quiet
stage "integration and end-to-end tests (two files at once)" bash scripts/test-files.sh
