#!/usr/bin/env bash
# Install everything k8s-manage's build, sandbox and tests need on a fresh Debian 12
# machine, and make a Docker engine answer. Idempotent: safe to run again.
# `setup.sh --packages-only` stops after the Debian packages (tests/fresh_machine.rs runs
# that step in a clean Debian root).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "run as root (apt-get and dockerd need it)"
    exit 1
fi

# Debian packages: protoc and the well-known .proto files it imports (etcd-client builds its
# protobufs; `--no-install-recommends` leaves libprotobuf-dev out, so it is named here), real
# etcd/haproxy/openssl and kubectl (kubernetes-client) for the tests, debootstrap for the
# sandbox node image. tests/fresh_machine.rs runs this package step in a clean Debian root.
pkgs=(protobuf-compiler libprotobuf-dev haproxy etcd-server etcd-client openssl debootstrap ca-certificates)
# The SSH tests: ssh-agent and ssh-add (openssh-client), ss (iproute2).
pkgs+=(openssh-client iproute2)
# The image build/push test: a real registry (Debian's docker-registry 2.8), started by the
# test itself on a free loopback port (the package's own service is not needed).
pkgs+=(docker-registry)
# The man-page test renders `k8s-manage man` output with `man -l` (man-db; groff-base is
# its dependency and does the rendering).
pkgs+=(man-db)
# The sandbox builds the upstream Kubernetes components from source (Go, below): pause is C
# compiled statically, flannel links C statically (gcc, libc6-dev); the Go toolchain comes
# as a zip from the Go module proxy (curl, unzip).
pkgs+=(gcc libc6-dev curl unzip)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--packages-only" ]; then
    log "packages ready"
    exit 0
fi

# Go 1.26, which builds the upstream components for the sandbox. Debian 12's golang is 1.19,
# too old; the official toolchain is a module of the Go module proxy
# (golang.org/toolchain, what GOTOOLCHAIN downloads), checked against the sha256 pinned here.
GO_VERSION=1.26.8
GO_ZIP_SHA256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
go_ok() {
    local v
    v=$(go version 2>/dev/null | sed -n 's/.*go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    [ -n "$v" ] && set -- $v && { [ "$1" -gt 1 ] || [ "$2" -ge 26 ]; }
}
if ! go_ok; then
    dest=/usr/local/lib/go-toolchain-$GO_VERSION
    if [ ! -x "$dest/bin/go" ]; then
        log "installing Go $GO_VERSION from the Go module proxy into $dest"
        zip=$(mktemp)
        curl -fsSL -o "$zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
        echo "$GO_ZIP_SHA256  $zip" | sha256sum -c --quiet - || { log "the Go toolchain zip's sha256 is not the pinned one"; exit 1; }
        tmp=$(mktemp -d)
        unzip -q "$zip" -d "$tmp"
        rm -f "$zip"
        mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" "$dest"
        rm -rf "$tmp"
        chmod +x "$dest"/bin/* "$dest"/pkg/tool/linux_amd64/*
    fi
    ln -sf "$dest/bin/go" /usr/local/bin/go
    export PATH="/usr/local/bin:$PATH"
    go_ok || { log "Go $GO_VERSION installed, yet \`go version\` does not answer"; exit 1; }
fi

# A real kubectl for the tests (Debian's kubernetes-client when the machine has none).
if ! command -v kubectl >/dev/null 2>&1; then
    log "apt-get install kubernetes-client"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

# tests/iotdb_e2e.rs: the sandbox's IoTDB image takes IoTDB's ConfigNode and DataNode zips
# from Maven Central (mvn) and compiles its small SQL client (javac, jar: Maven Central
# here has no iotdb-cli), and a real client, Apache IoTDB's Python session (PyPI
# apache-iotdb at the server's version), in a venv of its own.
iotdb_pkgs=()
command -v mvn >/dev/null 2>&1 || iotdb_pkgs+=(maven)
{ command -v javac && command -v jar; } >/dev/null 2>&1 || iotdb_pkgs+=(openjdk-17-jdk-headless)
python3 -c 'import ensurepip' 2>/dev/null || iotdb_pkgs+=(python3-venv)
if [ "${#iotdb_pkgs[@]}" -gt 0 ]; then
    log "apt-get install ${iotdb_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${iotdb_pkgs[@]}" >/dev/null
fi
iotdb_venv=/opt/k8s-manage-test/iotdb-venv
if ! "$iotdb_venv/bin/python" -c 'import iotdb.Session' 2>/dev/null; then
    log "pip install apache-iotdb==2.0.10 (into $iotdb_venv)"
    python3 -m venv "$iotdb_venv"
    "$iotdb_venv/bin/pip" install -q apache-iotdb==2.0.10
fi

# PyPI: the strict Kubernetes schema validator used by the manifest tests.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    log "pip install kubernetes-validate"
    python3 -m pip install -q --root-user-action=ignore kubernetes-validate
fi

# The SSH tests install sudo into a sandbox node from its Debian package (the node image
# has none); fetch it once into the sandbox cache so the tests need no network.
debs="${K8S_MANAGE_SANDBOX_CACHE:-/var/cache/k8s-manage/sandbox}/debs"
if ! ls "$debs"/sudo_*.deb >/dev/null 2>&1; then
    log "apt-get download sudo (into $debs)"
    mkdir -p "$debs"
    (cd "$debs" && { apt-get download sudo 2>/dev/null || { apt-get update -qq && apt-get download sudo; }; })
fi

# The sandbox's nodes share this machine's kernel: each node's kubelet watches every cgroup
# directory of the machine with inotify, and runs its own inotify instances. The kernel's
# defaults (8,192 instances per user on many machines, 128 on some; watches scaled to the
# memory) run out with a few sandboxes at once. Raised, never lowered; the sandbox is for
# test machines (kind asks the same of its hosts).
raise_sysctl() {
    local key="$1" want="$2" file have
    file="/proc/sys/${key//.//}"
    have=$(cat "$file" 2>/dev/null) || return 0
    if [ "$have" -lt "$want" ]; then
        log "$key=$want (was $have)"
        echo "$want" 2>/dev/null >"$file" || log "could not raise $key; sandbox kubelets may fail to start cAdvisor"
    fi
}
raise_sysctl fs.inotify.max_user_watches 1048576
raise_sysctl fs.inotify.max_user_instances 8192

# A Docker engine for the sandbox (installs docker.io and iptables-legacy when needed).
bash .ci/setup-docker.sh
log "ready"
