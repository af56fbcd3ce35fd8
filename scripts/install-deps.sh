#!/usr/bin/env bash
# Installs what the build, the tests and the demo need on a Debian machine:
# Debian packages (only when a command is missing) and the Go modules.
set -euo pipefail

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: must run as root (the tests load BPF programs and create network namespaces)" >&2
		exit 1
	fi
}

# command -> Debian package
declare -A pkgs=(
	[ip]=iproute2
	[iptables-legacy]=iptables
	[nft]=nftables
	[ethtool]=ethtool
	[ping]=iputils-ping
	[bpftool]=bpftool
	[xdp-loader]=xdp-tools
	[gcc]=gcc
	[make]=make
)

missing=()
for cmd in "${!pkgs[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
		missing+=("${pkgs[$cmd]}")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	need_root
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	else
		echo "install-deps: Go 1.26 or newer is required (https://go.dev/dl); not found in PATH or /usr/local/go" >&2
		exit 1
	fi
fi

go mod download
echo "install-deps: ok"
