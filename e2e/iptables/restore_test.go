package iptablese2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// filterSection returns the *filter ... COMMIT part of an iptables-save
// dump ("" when it has none).
func filterSection(dump string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.SplitAfter(dump, "\n") {
		t := strings.TrimSpace(l)
		if t == "*filter" {
			in = true
		}
		if in {
			b.WriteString(l)
			if t == "COMMIT" {
				break
			}
		}
	}
	return b.String()
}

// TestRestoreRealWorld restores the filter table of every real-world
// iptables ruleset through bpfilter's iptables-restore, and checks that
// iptables-save prints what iptables-legacy-save prints after
// iptables-legacy-restore of the same input. A table bpfilter cannot
// translate must be refused naming a rule and the feature, leaving the
// table that was in force untouched.
func TestRestoreRealWorld(t *testing.T) {
	requireE2E(t)
	testenv.RequireCommand(t, "iptables-legacy-restore")
	var files []string
	for _, g := range []string{
		"/work/shared/conformance/realworld/hosts/*save*",
		"/work/shared/conformance/realworld/docker-moby/derived/*.iptables-restore",
	} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no real-world rulesets under /work/shared/conformance/realworld")
	}
	ours, theirs := testenv.NewNetns(t), testenv.NewNetns(t)
	d := newDaemon(t, ours, "--transient")
	d.start()
	// Refused by the daemon (naming the rule), or already by the parser
	// for extensions bpfilter does not claim (naming the line).
	refusal := regexp.MustCompile(`chain \S+ rule \d+ \(-A .*\): .* is not supported|is not supported by bpfilter\)\s+Error occurred at line: \d+`)
	loaded, refused := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tool := "iptables"
		if strings.Contains(filepath.Base(f), "ip6tables") {
			tool = "ip6tables"
		}
		in := filterSection(string(b))
		if in == "" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			before := must(t, d.tool("", tool+"-save"), "save before")
			want := legacy(t, theirs, in, tool+"-restore")
			if want.code != 0 {
				t.Skipf("iptables-legacy-restore refuses it: %s", want.err)
			}
			got := d.tool(in, tool+"-restore")
			if got.code != 0 {
				if !refusal.MatchString(got.err) {
					t.Fatalf("refused without naming the rule and feature: %s", got.err)
				}
				if after := must(t, d.tool("", tool+"-save"), "save"); normalize(after) != normalize(before) {
					t.Fatalf("a refused restore changed the table:\n%s", after)
				}
				refused++
				t.Logf("refused: %s", strings.TrimSpace(got.err))
				return
			}
			loaded++
			gs := must(t, d.tool("", tool+"-save"), "save")
			ls := must(t, legacy(t, theirs, "", tool+"-save", "-t", "filter"), "legacy save")
			if normalize(gs) != normalize(ls) {
				t.Errorf("save after restore:\n%s\niptables-legacy-save:\n%s", gs, ls)
			}
		})
	}
	t.Logf("%d filter tables loaded, %d refused", loaded, refused)
}

// TestImport loads the kernel's iptables-legacy tables of a namespace into
// bpfilter: the filter table comes over with its counters, other tables
// are reported, and an untranslatable filter table is refused by name.
func TestImport(t *testing.T) {
	requireE2E(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ns := testenv.NewNetns(t)
	d := newDaemon(t, ns, "--transient")
	d.start()
	for _, c := range []string{
		"-N SSH", "-A SSH -p tcp --dport 22 -j ACCEPT", "-A INPUT -s 198.18.0.0/15 -j SSH",
		"-A INPUT -p udp --dport 53 -j DROP", "-P FORWARD DROP", "-t nat -A POSTROUTING -j ACCEPT",
	} {
		must(t, legacy(t, ns, "", "iptables", strings.Fields(c)...), "iptables-legacy "+c)
	}
	must(t, legacy(t, ns, "", "ip6tables", "-A", "OUTPUT", "-p", "tcp", "-j", "ACCEPT"), "ip6tables-legacy")
	dry := d.tool("", "bpfilter-iptables", "import", "--dry-run")
	if !strings.Contains(dry.out, "iptables: filter table (4 chains, 3 rules) can be imported") || !strings.Contains(dry.out, "table nat not imported") {
		t.Fatalf("import --dry-run: exit %d\n%s%s", dry.code, dry.out, dry.err)
	}
	if s := d.mustTool("iptables", "-S"); strings.Contains(s, "SSH") {
		t.Fatalf("--dry-run changed the table:\n%s", s)
	}
	r := d.tool("", "bpfilter-iptables", "import")
	if r.code == 0 || !strings.Contains(r.out, "imported the filter table") {
		t.Fatalf("import: exit %d (want 1: nat was left out)\n%s%s", r.code, r.out, r.err)
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		got := d.mustTool(tool, "-S")
		want := must(t, legacy(t, ns, "", tool, "-S"), "legacy -S")
		if got != want {
			t.Errorf("%s -S after import:\n%s\nkernel:\n%s", tool, got, want)
		}
	}
	// An untranslatable filter table is refused, naming the rule.
	must(t, legacy(t, ns, "", "iptables", "-A", "INPUT", "-j", "NFLOG", "--nflog-group", "1"), "legacy NFLOG")
	r = d.tool("", "bpfilter-iptables", "import")
	if r.code == 0 || !strings.Contains(r.err, "target NFLOG is not supported") {
		t.Fatalf("import of an NFLOG rule: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// TestRestoreTest checks iptables-restore --test: a table the daemon
// refuses fails the test, a good one passes, and neither is installed.
func TestRestoreTest(t *testing.T) {
	requireE2E(t)
	d := newDaemon(t, testenv.NewNetns(t), "--transient")
	d.start()
	good := "*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
	bad := "*filter\n-A INPUT -p tcp --dport 22 -j NFQUEUE\nCOMMIT\n"
	if r := d.tool(good, "iptables-restore", "--test"); r.code != 0 {
		t.Fatalf("--test of a good table: exit %d: %s", r.code, r.err)
	}
	if r := d.tool(bad, "iptables-restore", "--test"); r.code == 0 || !strings.Contains(r.err, "NFQUEUE is not supported") {
		t.Fatalf("--test of an NFQUEUE table: exit %d: %s", r.code, r.err)
	}
	if s := d.mustTool("iptables", "-S"); s != "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n" {
		t.Fatalf("--test installed rules:\n%s", s)
	}
}
