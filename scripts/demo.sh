#!/usr/bin/env bash
# The main job on one machine: set-up, build, start sandbox nodes (Docker-in-Docker servers
# reached over SSH), then deploy a cluster on them with k8s-manage and check it with kubectl.
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
$bin deploy -p "$DIR"
$bin deploy -p "$DIR"          # a second run changes nothing
$bin install-kubectl -p "$DIR" --kubeconfig "$DIR/kubeconfig"
kubectl --kubeconfig "$DIR/kubeconfig" get --raw /api/v1/nodes | head -c 300; echo
echo "cluster config: $DIR (admin kubeconfig in $DIR/.k8s-manage/admin.kubeconfig)"
echo "remove: $bin clean -p $DIR --yes && $bin sandbox down"
