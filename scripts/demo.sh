#!/usr/bin/env bash
# The main job on one machine: set-up, build, start sandbox nodes (Docker-in-Docker servers
# reached over SSH) preloaded with the real upstream Kubernetes components, deploy a cluster
# on them with k8s-manage, and show it running pods.
# Usage: bash scripts/demo.sh [DIR]   (default DIR: ./sandbox-cfg; remove with
#        `target/release/k8s-manage sandbox down`)
# The first run on a machine builds the components from source (Go; about 30 minutes on
# 2 cores, with progress); later runs reuse the sandbox cache and take a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-sandbox-cfg}"
bash scripts/setup.sh
export PATH="/usr/local/bin:$PATH"
cargo build --release -p k8s-manage
bin=target/release/k8s-manage
if ! $bin sandbox status >/dev/null 2>&1; then
    $bin sandbox up --masters 3 --workers 2 --proxy --dir "$DIR"
fi
$bin validate -p "$DIR"
$bin deploy -p "$DIR"
$bin deploy -p "$DIR"          # a second run changes nothing

# kubectl of the cluster's own version, which the sandbox built (Debian's is far older).
version=$(sed -n 's/^ *kubernetes-version: *//p' "$DIR/kubernetes-configuration.yaml")
kubectl_bin=$(ls -d /var/cache/k8s-manage/sandbox/upstream/kubernetes-"$version"-*/bin/kubectl | head -1)
mkdir -p "$DIR/bin"
$bin install-kubectl -p "$DIR" --kubeconfig "$DIR/kubeconfig" --dest "$DIR/bin/kubectl" \
    --from "$kubectl_bin" --sha256 "$(sha256sum "$kubectl_bin" | cut -d' ' -f1)" --force
kubectl() { "$DIR/bin/kubectl" --kubeconfig "$DIR/kubeconfig" "$@"; }
kubectl get nodes -o wide
kubectl create deployment hello --image=k8s-manage-sandbox/busybox:1.35.0 --replicas=2 \
    -- sh -c 'mkdir -p /www && echo "hello from $HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www' \
    2>/dev/null || true
kubectl rollout status deployment/hello --timeout=180s
kubectl get pods -A -o wide
echo "cluster config: $DIR (admin kubeconfig in $DIR/.k8s-manage/admin.kubeconfig)"
echo "remove: $bin clean -p $DIR --yes && $bin sandbox down"
