// Command bfcli defines and inspects bpfilter rules through the bpfilter
// daemon. Run `bfcli --help` for the commands.
package main

import (
	"os"

	"github.com/bpfilter-go/bpfilter/daemon/bfcli"
)

func main() {
	os.Exit(bfcli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
