#!/usr/bin/env bash
# Runs every benchmark and prints one report: program cost by rule count and
# set size (BPF_PROG_TEST_RUN), compile+load time, the optimiser's planning
# benchmarks when present, the daemon's memory per chain, and the
# side-by-side traffic benchmark against iptables-legacy and nft. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: must run as root" >&2
	exit 1
fi
BENCHTIME=${BENCHTIME:-3x}
echo "## machine"
echo "kernel $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%Y-%m-%d)"
echo
echo "## program cost and load time (go test -bench, BPF_PROG_TEST_RUN)"
go test -run '^$' -bench . -benchtime "$BENCHTIME" -timeout 60m ./bench/prog | grep -E '^(Benchmark|ok|FAIL)'
for pkg in ./optimizer ./backend; do
	if [ -d "$pkg" ] && grep -rqs --include='*_test.go' '^func Benchmark' "$pkg"; then
		echo
		echo "## $pkg"
		go test -run '^$' -bench . -benchtime "$BENCHTIME" -timeout 30m "$pkg" | grep -E '^(Benchmark|ok|FAIL)'
	fi
done
# In-place updates through the daemon (h/dupdate): request → response
# latency of chain.update / chain.update-set on a 10,000-rule chain.
echo
echo "## ./daemon (update latency)"
go test -run '^$' -bench 'DaemonUpdate' -benchtime "$BENCHTIME" -timeout 30m ./daemon | grep -E '^(Benchmark|ok|FAIL)'
echo
echo "## daemon memory per chain (Go heap after GC, kernel memlock of maps and programs)"
go test -run '^$' -bench BenchmarkDaemonMemory -benchtime "${MEM_BENCHTIME:-1x}" -timeout 30m ./daemon | grep -E '^(Benchmark|ok|FAIL)'
echo
echo "## traffic"
go run ./cmd/bpfilter-bench --quiet ${TRAFFIC_ARGS:-}
