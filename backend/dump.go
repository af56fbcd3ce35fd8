package backend

import (
	"fmt"
	"io"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// ruleSummary prints a rule's matches and verdict on one line for
// provenance comments.
func ruleSummary(c *ir.Chain, r *ir.Rule) string {
	parts := make([]string, 0, len(r.Matches)+1)
	for _, m := range r.Matches {
		if m.Op == ir.OpIn {
			parts = append(parts, setMatchString(c, m))
			continue
		}
		parts = append(parts, m.String())
	}
	parts = append(parts, r.Verdict.String())
	s := strings.Join(parts, " ")
	if o := r.Origin.String(); o != "" {
		s += " (" + o + ")"
	}
	return s
}

// dump prints the instructions with their labels and the rule each block
// came from.
func dump(w io.Writer, c *ir.Chain, insns asm.Instructions) error {
	if _, err := fmt.Fprintf(w, "chain %s %s: %d instructions\n", c.Name, c.Hook, len(insns)); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%v", insns)
	return err
}

// setMatchString prints a set match as bfcli writes it: "(f1, f2) in name".
func setMatchString(c *ir.Chain, m ir.Match) string {
	var keys []string
	if s := c.Set(m.Set); s != nil {
		for _, f := range s.Key {
			keys = append(keys, f.String())
		}
	}
	out := "(" + strings.Join(keys, ", ") + ") in " + m.Set
	if m.Negate {
		out = "not " + out
	}
	return out
}
