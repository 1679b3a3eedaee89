#!/bin/sh
# iptables-wrapper of the k8s-manage node-agent image.
#
# The image carries both iptables backends (legacy and nf_tables). The kubelet and the CNI
# plugins must add their rules where the host's own firewall (Docker, an earlier
# kube-proxy) keeps its rules, or packets skip them. iptables, ip6tables and their -save
# and -restore are links to this script; the first call picks the host's backend, points
# the six links at it, and runs the command; later calls go straight to the backend.
#
# The choice: the backend holding the kubelet's marker chains (KUBE-IPTABLES-HINT,
# KUBE-KUBELET-CANARY in the mangle table), else the backend holding more rules, else
# nf_tables (Debian's default). Run as `iptables-wrapper` it only prints the choice.
set -eu

dir=$(dirname "$0")
name=$(basename "$0")

rules() {
	"$dir/$1" 2>/dev/null | grep -c '^-' || true
}

marked() {
	"$dir/$1" -t mangle 2>/dev/null | grep -q -E '^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) '
}

choose() {
	if marked iptables-nft-save || marked ip6tables-nft-save; then
		echo nft
	elif marked iptables-legacy-save || marked ip6tables-legacy-save; then
		echo legacy
	else
		legacy=$(($(rules iptables-legacy-save) + $(rules ip6tables-legacy-save)))
		nft=$(($(rules iptables-nft-save) + $(rules ip6tables-nft-save)))
		if [ "$legacy" -gt "$nft" ]; then echo legacy; else echo nft; fi
	fi
}

mode=$(choose)
case "$name" in
iptables | iptables-save | iptables-restore | ip6tables | ip6tables-save | ip6tables-restore) ;;
*)
	echo "$mode"
	exit 0
	;;
esac

# Point the links at the backend; each through a rename, so a call running at the same
# time never finds a link missing.
for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf "xtables-$mode-multi" "$dir/.$cmd.$$"
	mv -f "$dir/.$cmd.$$" "$dir/$cmd"
done

case "$name" in
ip6tables*) family=ip6tables ;;
*) family=iptables ;;
esac
exec "$dir/$family-$mode${name#"$family"}" "$@"
