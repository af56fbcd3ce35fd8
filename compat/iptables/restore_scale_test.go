package iptables

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// TestRestoreScales restores 20000 rules over 200 chains: restore must not
// be quadratic in the number of rules.
func TestRestoreScales(t *testing.T) {
	var b strings.Builder
	b.WriteString("*filter\n")
	for c := 0; c < 200; c++ {
		fmt.Fprintf(&b, ":c%03d - [0:0]\n", c)
	}
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "-A c%03d -s 198.18.%d.%d/32 -p tcp --dport %d -j ACCEPT\n", i%200, i/256%256, i%256, i%65535+1)
	}
	for c := 0; c < 200; c++ {
		fmt.Fprintf(&b, "-A INPUT -j c%03d\n", c)
	}
	b.WriteString("COMMIT\n")
	ts := NewTables(abi.IPv4)
	start := time.Now()
	if err := ts.Restore(strings.NewReader(b.String()), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	tab, _ := ts.Table("filter")
	rep, blob, err := abi.Encode(tab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := abi.Decode(abi.IPv4, rep.Info(), blob); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := SaveTable(&out, tab, false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("restore+encode+decode+save of 20200 rules took %v", d)
	}
	if n := strings.Count(out.String(), "\n-A "); n != 20200 {
		t.Errorf("saved %d rules, want 20200", n)
	}
}
