package iptables

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

var restoreSteps = []struct {
	args  []string
	input string
}{
	{nil, "*filter\n:INPUT DROP [3:4]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:keep - [0:0]\n[5:6] -A INPUT -j keep\n-A keep -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"},
	{[]string{"--noflush"}, "*filter\n:new - [0:0]\n-A new -j RETURN\n-I INPUT -j new\nCOMMIT\n"},
	{[]string{"--noflush"}, "*filter\n:keep - [0:0]\n-A keep -j DROP\nCOMMIT\n"},
	{[]string{"--counters"}, "*filter\n:INPUT ACCEPT [10:20]\n:x - [0:0]\n[7:8] -A INPUT -s 198.18.0.0/15 -j x\n[1:2] -A x -j ACCEPT\nCOMMIT\n"},
	{[]string{"--test"}, "*filter\n-F\n-A INPUT -j DROP\nCOMMIT\n"},
	{[]string{"--test"}, "*filter\n-A INPUT -j nosuchchain\nCOMMIT\n"},
	{nil, "*filter\n-A INPUT -j ACCEPT\n"},
	{nil, "*filter\n-A INPUT --bogus\nCOMMIT\n"},
	{nil, "*filter\n-A nochain -j ACCEPT\nCOMMIT\n"},
	{[]string{"--noflush", "-c"}, "# comment\n*filter\n:OUTPUT DROP [1:1]\n-A OUTPUT -m comment --comment \"two words\" -j ACCEPT\nCOMMIT\n"},
	{[]string{"-T", "filter"}, "*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -p udp -j DROP\nCOMMIT\n"},
	{[]string{"-v"}, "*filter\n:foo - [0:0]\n:bar - [0:0]\n-A foo -j ACCEPT\n-A INPUT -p tcp -s 198.18.0.1 --dport 22 -j foo\nCOMMIT\n"},
	{[]string{"-v", "--noflush"}, "*filter\n:baz - [0:0]\n-F foo\n-X bar\n-A foo -j ACCEPT\nCOMMIT\n"},
}

func normalizeRestoreErr(s string) string {
	l := firstLine(s)
	return strings.Replace(l, "iptables-restore v1.8.9 (bpfilter)", "iptables-restore v1.8.9 (legacy)", 1)
}

// TestOracleRestoreOptions feeds the same restore inputs with the same
// options to iptables-legacy-restore and RestoreMain: exit statuses, first
// error lines, kernel blobs and iptables-save -c output must agree.
func TestOracleRestoreOptions(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy-restore")
	ns := testenv.NewNetns(t)
	conn, err := kernel.OpenInNetns(abi.IPv4, ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ours := NewTables(abi.IPv4)
	for i, step := range restoreSteps {
		lout, lerr, lcode := runLegacy(t, ns.Name, "iptables-legacy-restore", step.args, strings.NewReader(step.input))
		var oerr, oout bytes.Buffer
		ocode := RestoreMain(ours, step.args, strings.NewReader(step.input), &oout, &oerr)
		if oout.String() != lout {
			t.Errorf("step %d %v: stdout\n%q\nlegacy\n%q", i, step.args, oout.String(), lout)
		}
		if ocode != lcode {
			t.Errorf("step %d %v: exit %d, legacy %d (%q / %q)", i, step.args, ocode, lcode, oerr.String(), lerr)
		}
		if a, b := normalizeRestoreErr(oerr.String()), normalizeRestoreErr(lerr); a != b {
			t.Errorf("step %d: stderr %q, legacy %q", i, a, b)
		}
		_, _, blob, err := conn.ReadTable("filter")
		if err != nil {
			t.Fatal(err)
		}
		ot, _ := ours.Table("filter")
		_, enc, err := abi.Encode(ot)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(abi.MaskVolatile(abi.IPv4, enc), abi.MaskVolatile(abi.IPv4, blob)) {
			t.Fatalf("step %d: tables differ\n%s", i, abi.DiffBlobs(abi.IPv4, abi.MaskVolatile(abi.IPv4, enc), abi.MaskVolatile(abi.IPv4, blob)))
		}
		legacySave, err := ns.Run("iptables-legacy-save", "-c", "-t", "filter")
		if err != nil {
			t.Fatal(err)
		}
		var ourSave bytes.Buffer
		SaveMain(ours, []string{"-c", "-t", "filter"}, &ourSave, &bytes.Buffer{})
		if a, b := stripComments(ourSave.String()), stripComments(legacySave); a != b {
			t.Errorf("step %d: save -c differs\nours:\n%s\nlegacy:\n%s", i, a, b)
		}
	}
}
