package iptables

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// realDumps are iptables-save dumps from iptables' own tests and from real
// hosts and Docker.
func realDumps(t *testing.T) []string {
	var out []string
	for _, g := range []string{
		conformanceDir + "/shell-testcases/ipt-save/dumps/*.txt",
		conformanceDir + "/shell-testcases/ipt-save/dumps/fedora27-ip*tables",
		conformanceDir + "/shell-testcases/ipt-restore/dumps/*.dump",
		conformanceDir + "/shell-testcases/firewalld-restore/dumps/*.txt",
		conformanceDir + "/../realworld/hosts/*save*",
		conformanceDir + "/../realworld/docker-moby/derived/*.iptables-restore",
	} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Skip("conformance dumps not found")
	}
	return out
}

var tableLine = regexp.MustCompile(`(?m)^\*(\w+)`)

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") && l != "" {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestOracleRestoreDumps loads every real dump with iptables-legacy-restore
// in a test namespace and, table by table, with Restore: the kernel's blob
// must equal our encoding and iptables-legacy-save must print what
// SaveTable prints. Tables that use an extension this package does not
// claim must be refused with an error naming it.
func TestOracleRestoreDumps(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy-restore")
	testenv.RequireCommand(t, "ip6tables-legacy-restore")
	compared, refused := 0, 0
	for _, path := range realDumps(t) {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fam, restore, save := abi.IPv4, "iptables-legacy-restore", "iptables-legacy-save"
		if strings.Contains(name, "ip6") {
			fam, restore, save = abi.IPv6, "ip6tables-legacy-restore", "ip6tables-legacy-save"
		}
		t.Run(name, func(t *testing.T) {
			ns := testenv.NewNetns(t)
			f := filepath.Join(t.TempDir(), "dump")
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := ns.Run("sh", "-c", restore+" < "+f); err != nil {
				t.Skipf("iptables-legacy-restore refuses the dump itself: %v %s", err, out)
			}
			conn, err := kernel.OpenInNetns(fam, ns.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			seen := map[string]bool{}
			for _, m := range tableLine.FindAllStringSubmatch(string(data), -1) {
				table := m[1]
				if seen[table] {
					continue
				}
				seen[table] = true
				ours := NewTables(fam)
				err := ours.Restore(bytes.NewReader(data), RestoreOptions{Table: table})
				if err != nil {
					var ie *Error
					if errors.As(err, &ie) && strings.Contains(ie.Msg, "Couldn't load") {
						refused++
						t.Logf("table %s refused as unsupported: %v", table, err)
						continue
					}
					t.Errorf("table %s: %v", table, err)
					continue
				}
				compared++
				_, _, blob, err := conn.ReadTable(table)
				if err != nil {
					t.Fatalf("table %s: %v", table, err)
				}
				ot, _ := ours.Table(table)
				_, enc, err := abi.Encode(ot)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)) {
					t.Errorf("table %s: blob differs\n%s", table, abi.DiffBlobs(fam, abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)))
				}
				legacy, err := ns.Run(save, "-t", table)
				if err != nil {
					t.Fatal(err)
				}
				var w bytes.Buffer
				if err := SaveTable(&w, ot, false); err != nil {
					t.Fatal(err)
				}
				if got, want := w.String(), stripComments(legacy); got != want {
					t.Errorf("table %s: save differs\nlegacy:\n%s\nours:\n%s", table, want, got)
				}
			}
		})
	}
	t.Logf("%d tables compared, %d refused as unsupported", compared, refused)
	if compared == 0 {
		t.Error("no table compared")
	}
}
