package nfsemantics

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

func TestNeedsConntrack(t *testing.T) {
	plain := &ir.Ruleset{Chains: []*ir.Chain{{Name: "a", Rules: []*ir.Rule{{Matches: []ir.Match{{Field: ir.TCPDport}}}, nil}}, nil}}
	if NeedsConntrack(plain) || NeedsConntrack(nil) {
		t.Error("a ruleset without ct.state needs conntrack")
	}
	ct := &ir.Ruleset{Chains: []*ir.Chain{{Name: "u", User: true, Rules: []*ir.Rule{{Matches: []ir.Match{{Field: ir.CtState, Op: ir.OpAny}}}}}}}
	if !NeedsConntrack(ct) {
		t.Error("a user chain reading ct.state does not need conntrack")
	}
}

func TestNeedsConntrackCtProto(t *testing.T) {
	rs := &ir.Ruleset{Chains: []*ir.Chain{{Name: "a", Rules: []*ir.Rule{{Matches: []ir.Match{{Field: ir.CtProto}}}}}}}
	if !NeedsConntrack(rs) {
		t.Error("a ruleset reading ct.proto does not need conntrack")
	}
}
