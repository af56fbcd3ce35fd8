package cli

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestXTL4NotParsed: the iptables-only xt.l4 construct is printed in a
// readable form that Parse refuses (bfcli cannot write it).
func TestXTL4NotParsed(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{{
		Matches: []ir.Match{{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}, ir.XTL4Match(ir.XTL4TCP)},
		Verdict: ir.Verdict{Kind: ir.Drop},
	}}}
	text := FormatChain(c)
	if !strings.Contains(text, "xt.l4") {
		t.Fatalf("printed chain does not show the construct:\n%s", text)
	}
	_, err := Parse("xtl4", []byte(text), ir.ParseEnv{})
	if err == nil || !strings.Contains(err.Error(), `"xt.l4"`) {
		t.Fatalf("Parse of\n%s\ngave %v, want an unknown matcher error naming xt.l4", text, err)
	}
}
