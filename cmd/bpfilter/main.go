// Command bpfilter is the bpfilter daemon: it turns filtering rules received
// on its socket into BPF programs and attaches them to the kernel's hooks.
// See docs/PROTOCOL.md for the socket protocol and `bpfilter --help`.
package main

import (
	"os"

	"github.com/bpfilter-go/bpfilter/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
