package cli

import (
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// ChainCounters are the counters of one chain, as the listing shows them:
// one per rule (by index), the policy and the parse errors.
type ChainCounters struct {
	Rules  []Counter
	Policy Counter
	Errors Counter
}

// ListOptions select what List prints.
type ListOptions struct {
	// Counters returns the counters of the named chain, or nil when none
	// are known (the chain is then printed without counters).
	Counters func(chain string) *ChainCounters
	// NoSetContent replaces set elements by their number.
	NoSetContent bool
}

// List prints a ruleset as "bfcli ruleset get" does: the chains in bfcli
// syntax, with "counters policy N packets M bytes; error N packets M
// bytes" under each chain header and "counters N packets M bytes" in
// place of "counter" in rules that count.
func List(rs *ir.Ruleset, opts ListOptions) string {
	var b strings.Builder
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(ListChain(c, opts))
	}
	return b.String()
}

// ListChain prints one chain as "bfcli chain get" does.
func ListChain(c *ir.Chain, opts ListOptions) string {
	p := &printer{opts: opts}
	var cnt *ChainCounters
	if opts.Counters != nil {
		cnt = opts.Counters(c.Name)
	}
	p.chain(c, cnt)
	return p.b.String()
}
