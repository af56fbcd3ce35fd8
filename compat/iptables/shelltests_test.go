package iptables

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestShellTestcases runs iptables' own shell tests (chain, iptables,
// ip6tables, ipt-restore, ipt-save, firewalld-restore) with XT_MULTI
// pointing at xtmulti, the kernel-backed command built from this package,
// each in a fresh network namespace. A test counts when iptables-legacy
// itself passes it (through a shim with the same calling convention); then
// xtmulti must pass it too.
func TestShellTestcases(t *testing.T) {
	requireConformance(t)
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bash")
	testenv.RequireCommand(t, "iptables-legacy")
	dir := t.TempDir()
	bin := filepath.Join(dir, "xtmulti")
	if out, err := exec.Command("go", "build", "-o", bin, "./xtmulti").CombinedOutput(); err != nil {
		t.Fatalf("build xtmulti: %v\n%s", err, out)
	}
	shim := filepath.Join(dir, "legacy-multi")
	if err := os.WriteFile(shim, []byte(`#!/bin/sh
p=$1
shift
case $p in
ip6tables*) exec "ip6tables-legacy${p#ip6tables}" "$@" ;;
iptables*) exec "iptables-legacy${p#iptables}" "$@" ;;
esac
exec "$p" "$@"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, d := range []string{"chain", "iptables", "ip6tables", "ipt-restore", "ipt-save", "firewalld-restore"} {
		m, _ := filepath.Glob(filepath.Join(conformanceDir, "shell-testcases", d, "*_[01]"))
		scripts = append(scripts, m...)
	}
	// knownGaps are shell tests iptables-legacy passes and xtmulti does
	// not, with the reason. The test fails if one of them starts passing,
	// so the list stays honest.
	knownGaps := map[string]string{
		"ipt-restore/0004-restore-race_0":        "uses -p sctp --dport: the sctp match is not supported",
		"ipt-save/0001load-dumps_0":              "dumps use TCPMSS and CT targets, which are not supported",
		"ipt-save/0002load-fedora27-firewalld_0": "dump uses CHECKSUM and CT targets, which are not supported",
	}
	passed, skipped := 0, 0
	for _, s := range scripts {
		abs, err := filepath.Abs(s)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if strings.HasSuffix(s, "_1") {
			want = 1
		}
		name := filepath.Base(filepath.Dir(s)) + "/" + filepath.Base(s)
		runWith := func(multi string) (int, string) {
			ns := testenv.NewNetns(t)
			// Go's preemption signals would show up in the strace-based
			// tests as extra lines; they are not what those tests count.
			cmd := exec.Command("ip", "netns", "exec", ns.Name, "env", "XT_MULTI="+multi, "GODEBUG=asyncpreemptoff=1", "bash", abs)
			cmd.Dir = filepath.Dir(abs)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), string(out)
			} else if err != nil {
				t.Fatal(err)
			}
			return 0, string(out)
		}
		if rc, _ := runWith(shim); rc != want {
			skipped++
			t.Logf("%s: iptables-legacy itself exits %d (want %d); not counted", name, rc, want)
			continue
		}
		rc, out := runWith(bin)
		// Exit 127 is bash's "wait -n" finding no job to wait for: in
		// scripts that start restores in the background and then call
		// "wait -n" twice, a job that ended before the second fork may
		// already be reaped (bash 5.2 job table), under load. Neither
		// iptables-legacy nor xtmulti ever exits 127, so that status is
		// the script's race, not a result: the script runs again (at most
		// twice more), and the run is logged.
		for retry := 0; rc == 127 && rc != want && retry < 2; retry++ {
			t.Logf("%s: exit 127 from bash (wait -n race), running the script again", name)
			rc, out = runWith(bin)
		}
		if reason, gap := knownGaps[name]; gap {
			if rc == want {
				t.Errorf("%s: listed as a known gap (%s) but passes now", name, reason)
			} else {
				t.Logf("%s: known gap: %s", name, reason)
			}
			continue
		}
		if rc != want {
			t.Errorf("%s: exit %d, want %d\n%s", name, rc, want, out)
			continue
		}
		passed++
	}
	t.Logf("%d shell tests passed, %d known gaps, %d not applicable to iptables-legacy", passed, len(knownGaps), skipped)
}
