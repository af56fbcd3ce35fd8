#!/usr/bin/env bash
# The README's main command (`make demo`): start a transient bpfilter daemon
# in a throwaway network namespace, load testdata/demo.bf with bfcli, send
# traffic over a veth pair from a second namespace, print the counters, and
# clean everything up. Nothing outside the two namespaces, a temporary
# directory and a private bpffs mounted in it is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
if [ "$(id -u)" != 0 ]; then
    echo "demo: must run as root (BPF, network namespaces)" >&2
    exit 1
fi
if [ ! -x "$BIN/bpfilter" ] || [ ! -x "$BIN/bfcli" ]; then
    go build -o "$BIN/" ./cmd/bpfilter ./cmd/bfcli
fi
BIN=$(cd "$BIN" && pwd)

tag=$$
NS_HOST=bfdemo-host-$tag   # runs the daemon, owns demo0 (198.18.100.1)
NS_PEER=bfdemo-peer-$tag   # sends traffic from 198.18.100.2 and .66
WORK=$(mktemp -d /tmp/bpfilter-demo.XXXXXX)
DAEMON_PID=

cleanup() {
    set +e
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    mountpoint -q "$WORK/bpffs" && umount "$WORK/bpffs"
    ip netns del "$NS_HOST" 2>/dev/null
    ip netns del "$NS_PEER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_host() { ip netns exec "$NS_HOST" "$@"; }
in_peer() { ip netns exec "$NS_PEER" "$@"; }
bfcli() { in_host "$BIN/bfcli" --runtime-dir "$WORK/run" "$@"; }

step "network: namespaces $NS_HOST and $NS_PEER joined by a veth pair"
ip netns add "$NS_HOST"
ip netns add "$NS_PEER"
ip -n "$NS_HOST" link set lo up
ip -n "$NS_PEER" link set lo up
ip -n "$NS_HOST" link add demo0 type veth peer name demo1 netns "$NS_PEER"
ip -n "$NS_HOST" addr add 198.18.100.1/24 dev demo0
ip -n "$NS_PEER" addr add 198.18.100.2/24 dev demo1
ip -n "$NS_PEER" addr add 198.18.100.66/24 dev demo1
ip -n "$NS_HOST" link set demo0 up
ip -n "$NS_PEER" link set demo1 up
in_peer ping -q -c 1 -W 2 198.18.100.1 >/dev/null

step "daemon: bpfilter --transient, private runtime dir and bpffs in $WORK"
mkdir -p "$WORK/bpffs" "$WORK/run"
mount -t bpf bpf "$WORK/bpffs"
ip netns exec "$NS_HOST" "$BIN/bpfilter" --transient --runtime-dir "$WORK/run" --bpffs-path "$WORK/bpffs" 2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
    [ -S "$WORK/run/daemon.sock" ] && break
    sleep 0.05
done
[ -S "$WORK/run/daemon.sock" ] || { cat "$WORK/daemon.log"; exit 1; }

step "rules: bfcli ruleset set -f testdata/demo.bf"
bfcli ruleset set -f testdata/demo.bf

step "traffic from $NS_PEER"
ok=$(in_peer ping -c 5 -i 0.1 -W 1 -I 198.18.100.2 198.18.100.1 | grep -o '[0-9]* received' || true)
echo "5 pings from 198.18.100.2 (allowed):  $ok"
ko=$(in_peer ping -c 5 -i 0.1 -W 1 -I 198.18.100.66 198.18.100.1 | grep -o '[0-9]* received' || true)
echo "5 pings from 198.18.100.66 (blocked): $ko"
for port in 9999 7777; do
    for _ in 1 2 3; do
        in_peer bash -c "echo demo > /dev/udp/198.18.100.1/$port" || true
    done
done
echo "3 UDP datagrams to port 9999 (dropped), 3 to port 7777 (accepted)"

step "counters: bfcli ruleset get"
bfcli ruleset get

step "stop: the transient daemon detaches and unloads everything"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=
left=$(find "$WORK/bpffs" -mindepth 1 ! -name '*.debug' | wc -l)
echo "objects left in the private bpffs: $left"
attached=$(in_host ip link show demo0 | grep -c xdp || true)
echo "XDP programs still attached to demo0: $attached"
back=$(in_peer ping -c 2 -i 0.1 -W 1 -I 198.18.100.66 198.18.100.1 | grep -o '[0-9]* received' || true)
echo "2 pings from 198.18.100.66 after stop: $back"
