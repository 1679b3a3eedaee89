#!/usr/bin/env bash
# The main job on one machine: set-up, build, start sandbox nodes (Docker-in-Docker servers
# reached over SSH), then validate, plan and render the cluster for them.
# Usage: bash scripts/demo.sh [DIR]   (default DIR: ./sandbox-cfg; remove with
#        `target/release/k8s-manage sandbox down`)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-sandbox-cfg}"
bash scripts/setup.sh
# k8s-manage, and the test-only stand-ins the sandbox packages into images
cargo build --release -p k8s-manage -p k8s-standin
bin=target/release/k8s-manage
if ! $bin sandbox status >/dev/null 2>&1; then
    $bin sandbox up --masters 3 --workers 2 --proxy --dir "$DIR"
fi
$bin validate -p "$DIR"
$bin plan -p "$DIR"
$bin render -p "$DIR" --out "$DIR/rendered"
echo "sandbox config: $DIR; rendered artifacts: $DIR/rendered"
