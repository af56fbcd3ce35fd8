package rulegen

import (
	"fmt"
	"slices"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Edit is a one-rule change of a chain, for update benchmarks.
type Edit struct {
	// Name is "<replace|insert|delete>/<shared|copied>".
	Name string
	// Next is the chain after the change.
	Next *ir.Chain
}

// OneRuleEdits returns c with one host rule (ip4.saddr eq 198.19.250.1,
// counted DROP) replacing, inserted before, or the rule deleted at the
// middle of its rules, each twice: "shared" keeps the unedited *ir.Rule
// values of c (the daemon's chain.update-rules path), "copied" gives every
// rule a fresh copy (a whole chain decoded from a request).
func OneRuleEdits(c *ir.Chain) []Edit {
	host := &ir.Rule{Counter: true, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 250, 1}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
	at := len(c.Rules) / 2
	edits := []struct {
		name string
		edit func([]*ir.Rule) []*ir.Rule
	}{
		{"replace", func(rs []*ir.Rule) []*ir.Rule { rs[at] = host; return rs }},
		{"insert", func(rs []*ir.Rule) []*ir.Rule { return slices.Insert(rs, at, host) }},
		{"delete", func(rs []*ir.Rule) []*ir.Rule { return slices.Delete(rs, at, at+1) }},
	}
	var out []Edit
	for _, e := range edits {
		for _, share := range []string{"shared", "copied"} {
			next := *c
			if share == "copied" {
				next = *c.Clone()
			}
			next.Rules = e.edit(slices.Clone(next.Rules))
			out = append(out, Edit{Name: fmt.Sprintf("%s/%s", e.name, share), Next: &next})
		}
	}
	return out
}
