#!/usr/bin/env bash
# Make a Docker engine answer on /var/run/docker.sock on this machine, for the sandbox
# (`k8s-manage sandbox up`) and its end-to-end tests.
#
# - installs docker.io, iptables and debootstrap with apt-get when any is missing;
# - points iptables/ip6tables at the legacy backend (dockerd exits with "Iptables not found"
#   on this kind of machine otherwise), registering the alternative first when needed;
# - starts dockerd in the background when no engine answers, and waits (bounded) for it.
# Safe to run again, and safe when dockerd already runs: it then changes nothing.
#
# Environment: DOCKERD_LOG (default /var/log/k8s-manage-dockerd.log),
#              DOCKERD_WAIT_SECONDS (default 60).
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (apt-get, update-alternatives and dockerd need it)"
    exit 1
fi

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/k8s-manage-dockerd.log}"
WAIT="${DOCKERD_WAIT_SECONDS:-60}"

engine_answers() {
    # `docker info` talks to the socket; it fails fast when nothing listens.
    timeout 10 docker info >/dev/null 2>&1
}

# 1. Packages.
missing=()
for pkg in docker.io iptables debootstrap; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. iptables-legacy (for tools that dockerd calls and for what the sandbox nodes expect).
select_legacy() {
    local name="$1" legacy="/usr/sbin/$1-legacy"
    [ -x "$legacy" ] || { log "$legacy not found (package iptables)"; return 1; }
    if [ "$(readlink -f "/usr/sbin/$name" 2>/dev/null)" = "$(readlink -f "$legacy")" ]; then
        return 0
    fi
    if ! update-alternatives --set "$name" "$legacy" >/dev/null 2>&1; then
        update-alternatives --install "/usr/sbin/$name" "$name" "$legacy" 10 \
            --slave "/usr/sbin/$name-restore" "$name-restore" "$legacy-restore" \
            --slave "/usr/sbin/$name-save" "$name-save" "$legacy-save" >/dev/null
        update-alternatives --set "$name" "$legacy" >/dev/null
    fi
    log "$name -> $legacy"
}
select_legacy iptables
select_legacy ip6tables

# 3. The engine.
if engine_answers; then
    log "dockerd already answers; nothing to start"
    exit 0
fi

# A dockerd that is starting (pid file names a live process) gets waited for, not doubled.
pid=""
if [ -s /var/run/docker.pid ]; then
    pid="$(cat /var/run/docker.pid)"
    if ! kill -0 "$pid" 2>/dev/null; then
        pid=""
    fi
fi
if [ -z "$pid" ]; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: the daemon outlives this script and the shell that ran it.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
else
    log "dockerd (pid $pid) is starting; waiting for it"
fi

for _ in $(seq 1 "$WAIT"); do
    if engine_answers; then
        log "dockerd answers (pid $pid)"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null && [ ! -s /var/run/docker.pid ]; then
        log "dockerd exited; last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    sleep 1
done
log "dockerd did not answer within ${WAIT}s; last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 || true
exit 1
