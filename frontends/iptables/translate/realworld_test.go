package translate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// realWorldDir holds real rulesets (hosts' iptables-save output, Docker's
// rules).
const realWorldDir = "/work/shared/conformance/realworld"

// FilterSection returns the *filter ... COMMIT part of an iptables-save
// text ("" when there is none).
func filterSection(text string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "*filter" {
			in = true
		}
		if in {
			b.WriteString(line)
		}
		if in && t == "COMMIT" {
			break
		}
	}
	return b.String()
}

// TestRealWorldTables translates the filter table of every real-world
// ruleset: each either translates (and validates) or is refused with an
// *Error naming the rule and the feature.
func TestRealWorldTables(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(realWorldDir, "hosts", "*save*"))
	docker, _ := filepath.Glob(filepath.Join(realWorldDir, "docker-moby", "derived", "*.iptables-restore"))
	files = append(files, docker...)
	if len(files) == 0 {
		t.Skipf("no real-world rulesets under %s", realWorldDir)
	}
	var ok, refused int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := filterSection(string(data))
		if text == "" {
			continue
		}
		fam := abi.IPv4
		if strings.Contains(f, "ip6tables") {
			fam = abi.IPv6
		}
		ts := iptables.NewTables(fam)
		if err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{}); err != nil {
			t.Logf("%s: not restorable by compat/iptables: %v", filepath.Base(f), err)
			continue
		}
		tb, err := ts.Table("filter")
		if err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.RejectAsDrop = true
		_, err = Table(tb, o)
		var te *Error
		switch {
		case err == nil:
			ok++
			t.Logf("%s: translated", filepath.Base(f))
		case errors.As(err, &te) && te.Rule > 0 && te.Text != "" && te.Feature != "":
			refused++
			t.Logf("%s: refused: %v", filepath.Base(f), err)
		default:
			t.Errorf("%s: %v (want a translation or a refusal naming the rule)", filepath.Base(f), err)
		}
	}
	if ok == 0 {
		t.Error("no real-world table translates")
	}
	t.Logf("%d translated, %d refused", ok, refused)
}
