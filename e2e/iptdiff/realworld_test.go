package iptdiff

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// realWorldDir holds real rulesets (hosts' iptables-save output, Docker's
// rules).
const realWorldDir = "/work/shared/conformance/realworld"

// filterSection returns the *filter ... COMMIT part of an iptables-save
// text ("" when there is none).
func filterSection(text string) string {
	var b strings.Builder
	in := false
	seen := map[string]bool{}
	for _, line := range strings.SplitAfter(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "*filter" {
			in = true
		}
		// A chain declared twice (Docker's usernet-portmap-routed) is
		// refused by iptables-legacy-restore 1.8.9: keep the first.
		if in && !(strings.HasPrefix(t, ":") && seen[t]) {
			b.WriteString(line)
		}
		seen[t] = true
		if in && t == "COMMIT" {
			break
		}
	}
	return b.String()
}

func readFilter(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("real-world ruleset: %v", err)
	}
	return filterSection(string(data))
}

// TestDiffRealWorldHost runs a host's INPUT ruleset (its external
// interface eth0 mapped to the test link; REJECT as DROP, which delivers
// the same).
func TestDiffRealWorldHost(t *testing.T) {
	text := readFilter(t, filepath.Join(realWorldDir, "hosts", "Ringofsaturn_com_iptables-save"))
	text = regexp.MustCompile(`\beth0\b`).ReplaceAllString(text, "@IF@")
	compare(t, text, "", 300, 11)
}

// dockerIfaces are the bridges of Docker's rules, mapped to the router's
// interface towards R (the "containers"); Docker's container networks
// are mapped to R's network.
var (
	dockerIfaces = regexp.MustCompile(`\b(docker0|bridge1|docker_gwbridge|bridge)\b`)
	dockerNets   = strings.NewReplacer("192.0.2.", "198.18.1.", "172.17.0.0/16", "198.18.1.0/24", "172.18.0.0/16", "198.18.1.0/24")
)

// TestDiffRealWorldDocker runs Docker's FORWARD rulesets on a router
// between S and R, with S as the outside world and R as the containers.
func TestDiffRealWorldDocker(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(realWorldDir, "docker-moby", "derived", "*.iptables-restore"))
	if len(files) == 0 {
		t.Skipf("no Docker rulesets under %s", realWorldDir)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".iptables-restore"), func(t *testing.T) {
			text := readFilter(t, f)
			text = dockerNets.Replace(dockerIfaces.ReplaceAllString(text, "@OUT@"))
			if bad := differencesMode(t, true, text, "", text, "", 150, 5, true); bad != 0 {
				t.Errorf("%d packets got different verdicts", bad)
			}
		})
	}
}
