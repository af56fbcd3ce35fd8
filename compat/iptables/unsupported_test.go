package iptables

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

var tFileName = regexp.MustCompile(`^lib(xt|ipt|ip6t)_(\w+)\.t$`)

// TestUnsupportedExtensionsRefused checks every .t file of an extension
// this package does not claim: the extension is in Unsupported, and every
// line using it is refused with an error naming it.
func TestUnsupportedExtensionsRefused(t *testing.T) {
	requireConformance(t)
	claimed := map[string]bool{}
	for _, f := range claimedExtensionTests {
		claimed[f] = true
	}
	var files []string
	for _, dir := range []string{"extensions", "extensions-extra"} {
		m, _ := filepath.Glob(filepath.Join(conformanceDir, dir, "*.t"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("conformance .t files not found")
	}
	checked := 0
	for _, path := range files {
		base := filepath.Base(path)
		m := tFileName.FindStringSubmatch(base)
		if claimed[base] || m == nil {
			continue
		}
		fam := abi.IPv4
		if m[1] == "ip6t" {
			fam = abi.IPv6
		}
		name := m[2]
		kind := xt.Match
		if strings.ToUpper(name) == name {
			kind = xt.Target
		}
		listed := false
		for _, n := range Unsupported[kind] {
			listed = listed || n == name
		}
		if !listed {
			t.Errorf("%s: %s %s is neither claimed nor in Unsupported", base, kind, name)
		}
		flag := "-m "
		if kind == xt.Target {
			flag = "-j "
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			rule, _, _ := strings.Cut(l, ";")
			if !strings.Contains(rule+" ", flag+name+" ") || strings.HasPrefix(l, "#") {
				continue
			}
			words, err := shellWords(rule)
			if err != nil {
				continue
			}
			ts := NewTables(fam)
			cmd, err := ParseCommand(fam, append([]string{"-A", "INPUT"}, words...))
			if err == nil {
				err = ts.Do(cmd, io.Discard)
			}
			checked++
			if err == nil || !strings.Contains(err.Error(), "`"+name+"'") || !strings.Contains(err.Error(), "not supported by bpfilter") {
				t.Errorf("%s: %q: got %v, want a refusal naming %s", base, rule, err, name)
			}
		}
	}
	t.Logf("%d lines of unsupported extensions refused", checked)
	if checked == 0 {
		t.Error("no line checked")
	}
}
