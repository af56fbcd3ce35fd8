package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestLimitKernelCheckAgrees: the overflow test of the iptables command
// (xt.Limit.KernelCheck, the kernel's limit_mt_check) and of the IR
// (ir.LimitCheck, used by the backend) agree at every usual HZ on the
// rates iptables can write.
func TestLimitKernelCheckAgrees(t *testing.T) {
	n, refused := 0, 0
	for _, hz := range []uint32{100, 250, 300, 1000} {
		for _, mult := range []uint64{1, 60, 3600, 86400} {
			for r := uint64(1); r <= 10000; r = r*3 + 1 {
				avg := uint32(xt.LimitScale * mult / r)
				if avg == 0 {
					break
				}
				for b := uint32(0); b <= 10000; b += 37 {
					l := xt.Limit{Avg: avg, Burst: b}
					got, want := l.KernelCheck(hz) == nil, ir.LimitCheck(ir.Limit{Avg: avg, Burst: b}, hz) == nil
					if got != want {
						t.Fatalf("HZ %d avg %d burst %d: iptables check %v, IR check %v", hz, avg, b, got, want)
					}
					n++
					if !got {
						refused++
					}
				}
			}
		}
	}
	if refused == 0 || refused == n {
		t.Fatalf("%d of %d refused: the cases do not cover both outcomes", refused, n)
	}
}

// TestTranslateLimit: -m limit becomes one meta.limit match after the
// header's matches, with iptables' period and burst.
func TestTranslateLimit(t *testing.T) {
	ts := iptables.NewTables(abi.IPv4)
	text := "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 7/min --limit-burst 3 -j ACCEPT\n-A INPUT -m limit -j ACCEPT\nCOMMIT\n"
	if err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	tb, err := ts.Table("filter")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	in := rs.Chain("iptables.INPUT")
	want := []ir.Limit{{Avg: 60 * xt.LimitScale / 7, Burst: 3}, {Avg: 3600 * xt.LimitScale / 3, Burst: 5}}
	for i, w := range want {
		r := in.Rules[i+1] // rule 0 is the family guard
		last := &r.Matches[len(r.Matches)-1]
		l, err := ir.LimitOf(last)
		if err != nil || l != w {
			t.Errorf("rule %d: last match %s (%v), want limit %+v", i+1, last, err, w)
		}
	}
	if got := in.Rules[1].Matches[0].Field; got == ir.MetaLimit {
		t.Error("the limit comes before the header's matches")
	}
}

// tFileDir holds iptables' extension tests.
const tFileDir = "/work/shared/conformance/iptables/extensions"

// TestLimitTFileCompiles: every OK line of libxt_limit.t translates and
// compiles (in the chains the .t file names), the meta.limit match with
// the line's rate.
func TestLimitTFileCompiles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(tFileDir, "libxt_limit.t"))
	if err != nil {
		t.Skipf("conformance material: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ";")
		if len(f) < 3 || strings.HasPrefix(line, ":") || strings.HasPrefix(line, "#") {
			continue
		}
		for _, chain := range []string{"INPUT", "FORWARD", "OUTPUT"} {
			text := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A " + chain + " " + f[0] + " -j ACCEPT\nCOMMIT\n"
			ts := iptables.NewTables(abi.IPv4)
			err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{})
			if (err == nil) != (f[2] == "OK") {
				t.Fatalf("%q: restore: %v, .t says %s", f[0], err, f[2])
			}
			if err != nil {
				continue
			}
			tb, err := ts.Table("filter")
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Table(tb, opts())
			if err != nil {
				t.Fatalf("%q: %v", f[0], err)
			}
			c := rs.Chain("iptables." + chain)
			if _, err := backend.CompileInRuleset(rs, c, backend.Options{HZ: 250}); err != nil {
				t.Fatalf("%q in %s: %v", f[0], chain, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no line of libxt_limit.t was checked")
	}
}

// TestTranslateLimitRefusals: what the IR cannot hold is refused naming
// the feature.
func TestTranslateLimitRefusals(t *testing.T) {
	for _, l := range []*xt.Limit{{Avg: xt.LimitScale, Burst: 0}, {Avg: xt.LimitScale, Burst: 5, Cost: 32000, CreditCap: 160000}} {
		rc := &ruleCtx{chain: &abi.Chain{Name: "INPUT"}, num: 1, out: &ir.Rule{}}
		err := rc.limit(l)
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("%+v: %v, want a refusal naming limit", l, err)
		}
	}
}
