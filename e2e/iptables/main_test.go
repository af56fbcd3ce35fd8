// Package iptablese2e tests bpfilter's iptables commands end to end: the
// bpfilter-iptables binary talking to a bpfilter daemon, compared with
// iptables-legacy on the kernel's own tables, and the traffic they let
// through. Every test runs in network namespaces it creates, with its own
// runtime directory and private bpffs.
package iptablese2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// binDir holds the daemon and bpfilter-iptables with its tool links, built
// once by TestMain ("" when the build failed: tests then fail).
var binDir string

var buildErr error

var toolLinks = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

func build() (string, error) {
	dir, err := os.MkdirTemp("", "bpfilter-ipt-e2e-")
	if err != nil {
		return "", err
	}
	for _, pkg := range []string{"bpfilter", "bpfilter-iptables"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "github.com/bpfilter-go/bpfilter/cmd/"+pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return dir, fmt.Errorf("go build %s: %w: %s", pkg, err, out)
		}
	}
	for _, l := range toolLinks {
		if err := os.Symlink("bpfilter-iptables", filepath.Join(dir, l)); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

func TestMain(m *testing.M) {
	// Helper commands (UDPSendCommand) re-run this binary.
	testenv.RunHelpers()
	code := 0
	func() {
		flag.Parse()
		if os.Geteuid() == 0 && !testing.Short() {
			binDir, buildErr = build()
			if binDir != "" {
				defer os.RemoveAll(binDir)
			}
		}
		code = m.Run()
	}()
	os.Exit(code)
}
