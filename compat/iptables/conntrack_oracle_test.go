package iptables

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestOracleConntrackOptions applies the conntrack lines of
// testdata/oracle (combinations, inversions, masks and ranges the .t files
// of iptables do not have) with iptables-legacy and with this package:
// same accept/refuse, the same kernel blob, and the same -S and -L output.
func TestOracleConntrackOptions(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	testenv.RequireCommand(t, "ip6tables-legacy")
	ns := testenv.NewNetns(t)
	files, _ := filepath.Glob("testdata/oracle/*.t")
	if len(files) == 0 {
		t.Fatal("no testdata/oracle/*.t files")
	}
	checked := 0
	for _, path := range files {
		fam, cmd := abi.IPv4, "iptables-legacy"
		if strings.HasPrefix(filepath.Base(path), "libip6t_") {
			fam, cmd = abi.IPv6, "ip6tables-legacy"
		}
		conn, err := kernel.OpenInNetns(fam, ns.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, tl := range readTFile(t, path) {
			words, err := shellWords(tl.rule)
			if err != nil {
				t.Fatalf("%s:%d: %v", tl.file, tl.line, err)
			}
			checked++
			args := append([]string{"-t", tl.table, "-A", tl.chain}, words...)
			_, legacyErr := ns.Run(append([]string{cmd}, args...)...)
			ours := NewTables(fam)
			pc, ourErr := ParseCommand(fam, args)
			if ourErr == nil {
				ourErr = ours.Do(pc, &bytes.Buffer{})
			}
			if wantOK := tl.result == "OK"; (legacyErr == nil) != wantOK {
				t.Errorf("%s:%d %q: iptables-legacy error %v, the file says %s", tl.file, tl.line, tl.rule, legacyErr, tl.result)
			}
			if (legacyErr == nil) != (ourErr == nil) {
				t.Errorf("%s:%d %q: iptables-legacy error %v, ours %v", tl.file, tl.line, tl.rule, legacyErr, ourErr)
				ns.Run(cmd, "-t", tl.table, "-F")
				continue
			}
			if legacyErr != nil {
				continue
			}
			kt, _, blob, err := conn.ReadTable(tl.table)
			if err != nil {
				t.Fatal(err)
			}
			ot, _ := ours.Table(tl.table)
			_, enc, err := abi.Encode(ot)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)) {
				t.Errorf("%s:%d %q: blob differs\n%s", tl.file, tl.line, tl.rule, abi.DiffBlobs(fam, abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)))
			}
			kts := NewTables(fam)
			kts.Set(kt)
			for _, opts := range [][]string{{"-S", tl.chain}, {"-L", tl.chain, "-n"}, {"-L", tl.chain, "-n", "-v", "-x"}, {"-L", tl.chain}} {
				largs := append([]string{"-t", tl.table}, opts...)
				legacyOut, err := ns.Run(append([]string{cmd}, largs...)...)
				if err != nil {
					t.Fatal(err)
				}
				lc, err := ParseCommand(fam, largs)
				if err != nil {
					t.Fatal(err)
				}
				var ourOut, kernOut bytes.Buffer
				if err := ours.Do(lc, &ourOut); err != nil {
					t.Fatal(err)
				}
				if err := kts.Do(lc, &kernOut); err != nil {
					t.Fatal(err)
				}
				if ourOut.String() != legacyOut || kernOut.String() != legacyOut {
					t.Errorf("%s:%d %q: %v differs\nlegacy:\n%sours:\n%sdecoded kernel:\n%s", tl.file, tl.line, tl.rule, opts, legacyOut, ourOut.String(), kernOut.String())
				}
			}
			if _, err := ns.Run(cmd, "-t", tl.table, "-F"); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d lines checked", checked)
}
