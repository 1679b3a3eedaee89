#!/usr/bin/env bash
# Upstream's conformance tests (`e2e.test`, the `[Conformance]` specs) against a cluster
# k8s-manage deploys on sandbox nodes: builds the suite and its workload images from the
# pinned Kubernetes module, brings up a sandbox (1 master + 2 workers by default), deploys
# it with k8s-manage, loads the images into the nodes and serves them from a TLS registry
# in the sandbox (for the specs that pull with imagePullPolicy Always), runs the parallel
# specs and then the [Serial] ones, and prints the counts. Results:
# $OUT/{parallel,serial}/junit_01.xml, the ginkgo output in $OUT/*.log. The sandbox is left running for a look afterwards
# (`k8s-manage sandbox down --name $NAME` removes it).
#
#   CONFORMANCE_PROCS   parallel ginkgo processes (default 4)
#   CONFORMANCE_TIMEOUT ginkgo's limit for the parallel pass (default 150m)
#   CONFORMANCE_SERIAL_TIMEOUT  the same for the serial pass (default: CONFORMANCE_TIMEOUT)
#   CONFORMANCE_SKIP    extra skip expression (ORed with the built-in one)
#   CONFORMANCE_FOCUS   focus expression (default: every [Conformance] spec)
#   CONFORMANCE_SERIAL  0 to leave out the serial pass
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${CONFORMANCE_SANDBOX:-conformance}"
OUT="${CONFORMANCE_OUT:-$PWD/target/conformance}"
PROCS="${CONFORMANCE_PROCS:-4}"
TIMEOUT="${CONFORMANCE_TIMEOUT:-150m}"
SERIAL_TIMEOUT="${CONFORMANCE_SERIAL_TIMEOUT:-$TIMEOUT}"
FOCUS="${CONFORMANCE_FOCUS:-\[Conformance\]}"
# Specs that need what a sandbox on one machine does not have are listed in CONFORMANCE.md
# with the reason; none is skipped here by default.
SKIP="${CONFORMANCE_SKIP:-}"

stage() { printf '==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "building k8s-manage and the conformance helper"
cargo build --release --quiet --bin k8s-manage --example conformance
bin="$PWD/target/release/k8s-manage"
helper="$PWD/target/release/examples/conformance"
mkdir -p "$OUT"

stage "building e2e.test and ginkgo (cached per version)"
mapfile -t suite < <("$helper" build)
e2e="${suite[0]}" ginkgo="${suite[1]}"

stage "building the e2e workload images (cached)"
"$helper" images

stage "sandbox $NAME: 1 master + 2 workers"
"$bin" sandbox down --name "$NAME" >/dev/null 2>&1 || true
"$bin" sandbox up --masters 1 --workers 2 --name "$NAME" --dir "$OUT/config"
"$helper" load "$NAME"
# The same images from a registry beside the nodes (TLS, its CA trusted by the nodes'
# Docker engines through /etc/docker/certs.d), under the name the repo list gives them.
"$helper" serve "$NAME"

# This VM's uplink answers every outgoing TCP connection (a transparent proxy outside
# it), so a packet to a Service IP and port that kube-proxy no longer forwards would
# "connect" there, where a real network gives no answer: one Services spec checks
# exactly that. The sandbox's traffic to the Service range is refused at the host
# instead; the rule carries the sandbox's name and is replaced on each run.
subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NAME")
services=$(sed -n 's/^ *service-cluster-ip-range: *//p' "$OUT/config/kubernetes-configuration.yaml")
tag="k8s-manage-conformance-$NAME"
while iptables -S DOCKER-USER | grep -q -- "$tag"; do
    iptables -S DOCKER-USER | grep -- "$tag" | head -1 | sed 's/^-A/-D/' | xargs iptables
done
iptables -I DOCKER-USER -s "$subnet" -d "${services:-10.96.0.0/12}" \
    -m comment --comment "$tag" -j REJECT --reject-with icmp-port-unreachable
iptables -I DOCKER-USER -s "$subnet" -d "${services:-10.96.0.0/12}" -p tcp \
    -m comment --comment "$tag" -j REJECT --reject-with tcp-reset

stage "deploying with k8s-manage"
"$bin" deploy -p "$OUT/config"
export KUBECONFIG="$OUT/config/.k8s-manage/admin.kubeconfig"
"$helper" repo-list "$OUT/repo-list.yaml"
export KUBE_TEST_REPO_LIST="$OUT/repo-list.yaml"

run_pass() {
    local pass="$1" procs="$2" timeout="$3" focus="$4" skip="$5"
    rm -rf "${OUT:?}/$pass" && mkdir -p "$OUT/$pass"
    stage "$pass pass: focus '$focus' skip '$skip', $procs processes"
    set -x
    "$ginkgo" run --procs="$procs" --timeout="$timeout" --no-color \
        --focus="$focus" ${skip:+--skip="$skip"} "$e2e" -- \
        --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$OUT/$pass" \
        --disable-log-dump --e2e-output-dir="$OUT/$pass" >"$OUT/$pass.log" 2>&1 || true
    { set +x; } 2>/dev/null
    tail -5 "$OUT/$pass.log"
}

parallel_skip='\[Serial\]'
[ -n "$SKIP" ] && parallel_skip="$parallel_skip|$SKIP"
run_pass parallel "$PROCS" "$TIMEOUT" "$FOCUS" "$parallel_skip"
if [ "${CONFORMANCE_SERIAL:-1}" != 0 ]; then
    run_pass serial 1 "$SERIAL_TIMEOUT" "\[Serial\].*$FOCUS|$FOCUS.*\[Serial\]" "$SKIP"
fi

stage "counting"
"$helper" count "$OUT"/*/junit_01.xml | tee "$OUT/counts.txt"
echo "sandbox $NAME is left up; remove it with: $bin sandbox down --name $NAME"
echo "and its host rule with: iptables -S DOCKER-USER | grep -- $tag | sed 's/^-A/-D/' | xargs -L1 iptables"
