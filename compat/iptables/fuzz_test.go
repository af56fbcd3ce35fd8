package iptables

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

func FuzzRestore(f *testing.F) {
	f.Add([]byte("*filter\n:INPUT DROP [1:2]\n:user - [0:0]\n-A INPUT -p tcp --dport 22 -j user\n[3:4] -A user -m comment --comment \"a \\\" b\" -j ACCEPT\nCOMMIT\n"), false)
	f.Add([]byte("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 1.2.3.4\nCOMMIT\n"), true)
	if paths, err := os.ReadDir(conformanceDir + "/shell-testcases/ipt-save/dumps"); err == nil {
		for _, p := range paths {
			if b, err := os.ReadFile(conformanceDir + "/shell-testcases/ipt-save/dumps/" + p.Name()); err == nil {
				f.Add(b, strings.Contains(p.Name(), "6"))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, v6 bool) {
		fam := abi.IPv4
		if v6 {
			fam = abi.IPv6
		}
		ts := NewTables(fam)
		if err := ts.Restore(bytes.NewReader(data), RestoreOptions{Counters: true}); err != nil {
			ReportError(fam, "-restore", err, io.Discard)
			return
		}
		// A restored table must encode, decode and save.
		for _, name := range ts.Loaded() {
			tab, _ := ts.Table(name)
			rep, blob, err := abi.Encode(tab)
			if err != nil {
				t.Fatalf("restored table %s does not encode: %v", name, err)
			}
			if _, err := abi.Decode(fam, rep.Info(), blob); err != nil {
				t.Fatalf("restored table %s does not decode: %v", name, err)
			}
			if err := SaveTable(io.Discard, tab, true); err != nil {
				t.Fatal(err)
			}
			for _, opts := range [][]string{{"-L", "-n", "-v"}, {"-S"}} {
				cmd, err := ParseCommand(fam, append([]string{"-t", name}, opts...))
				if err != nil {
					t.Fatal(err)
				}
				if err := ts.Do(cmd, io.Discard); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func FuzzCommand(f *testing.F) {
	for _, s := range commandSequence {
		f.Add(s, false)
		f.Add(v6Line(s), true)
	}
	for _, s := range kernelCheckSequence {
		f.Add(s, false)
	}
	f.Add("-A INPUT -p tcp -m multiport --dports 1,2:3 -m conntrack --ctstate NEW -j LOG --log-prefix x", false)
	f.Add("-A INPUT -p ipv6-icmp --icmpv6-type echo-request -m hl --hl-eq 1 -j REJECT --reject-with icmp6-no-route", true)
	f.Fuzz(func(t *testing.T, line string, v6 bool) {
		fam := abi.IPv4
		if v6 {
			fam = abi.IPv6
		}
		ts := NewTables(fam)
		Main(ts, strings.Fields(line), io.Discard, io.Discard)
		Main(ts, []string{"-v", "-L", "-n"}, io.Discard, io.Discard)
		Main(ts, []string{"-S", "-v"}, io.Discard, io.Discard)
		// Whatever was accepted must encode and decode.
		for _, name := range ts.Loaded() {
			tab, _ := ts.Table(name)
			rep, blob, err := abi.Encode(tab)
			if err != nil {
				t.Fatalf("table %s does not encode: %v", name, err)
			}
			if _, err := abi.Decode(fam, rep.Info(), blob); err != nil {
				t.Fatalf("table %s does not decode: %v", name, err)
			}
		}
	})
}
