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
func ruleSummary(r *ir.Rule) string {
	parts := make([]string, 0, len(r.Matches)+1)
	for _, m := range r.Matches {
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
