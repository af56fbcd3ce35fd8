package optimizer

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestOpaqueFieldsStayLinear: only header fields and the plain metadata
// values become key parts; any other field (metadata computed or kept by
// the kernel, fields the optimiser does not know) leaves its rule linear
// with the field named, and the rules around it still form lookups.
func TestOpaqueFieldsStayLinear(t *testing.T) {
	for _, f := range []ir.Field{ir.MetaIface, ir.MetaL4Proto, ir.MetaDport, ir.IP4Saddr, ir.TCPDport, ir.ICMPType} {
		if !keyField(f) {
			t.Errorf("%s should be a key field", f)
		}
	}
	for _, f := range []ir.Field{ir.MetaProbability, ir.MetaFlowProbability, ir.MetaIifName, ir.CtState, ir.CtProto, ir.FieldInvalid, ir.Field(60000)} {
		if keyField(f) {
			t.Errorf("%s must be opaque", f)
		}
	}
	c := &ir.Chain{Name: "o", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	host := func(b byte) *ir.Rule {
		return &ir.Rule{Verdict: ir.Verdict{Kind: ir.Drop}, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{10, 0, 0, b}}}}
	}
	for i := 0; i < 5; i++ {
		c.Rules = append(c.Rules, host(byte(i)))
	}
	c.Rules = append(c.Rules, &ir.Rule{Verdict: ir.Verdict{Kind: ir.Accept}, Matches: []ir.Match{{Field: ir.CtProto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}}})
	for i := 5; i < 10; i++ {
		c.Rules = append(c.Rules, host(byte(i)))
	}
	p := build(t, c, Options{})
	if len(p.Segments) != 3 || p.Segments[0].Kind != SegLookup || p.Segments[1].Kind != SegLinear || p.Segments[2].Kind != SegLookup {
		t.Fatalf("want lookup, linear, lookup:\n%s", p.Strategy())
	}
	if why := p.Rules[5].Why; !strings.Contains(why, "ct.proto") {
		t.Fatalf("linear rule's reason %q does not name the field", why)
	}
}
