package cli

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestLimitSpelling: meta.limit reads "RATE[,burst=N]" and prints back
// with the burst, on netfilter hooks only.
func TestLimitSpelling(t *testing.T) {
	src := "chain in BF_HOOK_NF_LOCAL_IN{family=inet4,priorities=101-102} DROP\n" +
		"    rule\n        meta.limit 10/second,burst=3\n        counter\n        ACCEPT\n" +
		"    rule\n        meta.limit 3/hour\n        ACCEPT\n"
	rs, err := Parse("limit.bf", []byte(src), ir.ParseEnv{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ir.LimitOf(&rs.Chains[0].Rules[0].Matches[0])
	if err != nil || l != (ir.Limit{Avg: 1000, Burst: 3}) {
		t.Fatalf("parsed %+v, %v", l, err)
	}
	out := Format(rs)
	for _, want := range []string{"meta.limit eq 10/sec,burst=3", "meta.limit eq 3/hour,burst=5"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed chain lacks %q:\n%s", want, out)
		}
	}
	if _, err := Parse("x.bf", []byte(strings.Replace(src, "BF_HOOK_NF_LOCAL_IN{family=inet4,priorities=101-102}", "BF_HOOK_XDP{iface=lo}", 1)), ir.ParseEnv{}); err == nil ||
		!strings.Contains(err.Error(), "meta.limit") {
		t.Errorf("meta.limit on XDP: %v, want a refusal naming it", err)
	}
}
