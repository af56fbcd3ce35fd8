package cli

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// SelectChain picks the chain a "bfcli chain set/load/update" command acts
// on. Without a name the text must define exactly one chain; with a name,
// a chain of that name must be defined in the text (others are ignored).
func SelectChain(rs *ir.Ruleset, name string) (*ir.Chain, error) {
	if rs == nil || len(rs.Chains) == 0 {
		return nil, fmt.Errorf("no chain defined in the input")
	}
	if name == "" {
		if len(rs.Chains) != 1 {
			names := make([]string, len(rs.Chains))
			for i, c := range rs.Chains {
				names[i] = c.Name
			}
			return nil, fmt.Errorf("the input defines %d chains (%s): use --name to pick one", len(rs.Chains), strings.Join(names, ", "))
		}
		return rs.Chains[0], nil
	}
	if c := rs.Chain(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("chain %q is not defined in the input", name)
}
