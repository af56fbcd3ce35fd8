package traffic

import (
	"fmt"
	"net/netip"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Bpfilter installs the benchmark rules as one bpfilter chain on Hook,
// compiled, loaded and attached in the DUT namespace by the engine (the
// same code path the daemon uses).
type Bpfilter struct {
	Hook  ir.Hook
	chain *engine.Chain
}

// Name implements Firewall.
func (b *Bpfilter) Name() string {
	switch b.Hook {
	case ir.HookXDP:
		return "bpfilter-xdp"
	case ir.HookTCIngress:
		return "bpfilter-tc"
	case ir.HookNFLocalIn:
		return "bpfilter-nf"
	}
	return "bpfilter-" + b.Hook.String()
}

// BenchChain is the chain the benchmark installs: n rules dropping source
// addresses the generator never uses, then an accepting policy.
func BenchChain(hook ir.Hook, ifindex uint32, n int) (*ir.Chain, error) {
	c := &ir.Chain{Name: "bench", Hook: hook, Policy: ir.Verdict{Kind: ir.Accept}}
	switch hook.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		c.HookOpts.Ifindex = ifindex
	case ir.FlavourNF:
		c.HookOpts.Priorities = [2]int32{100, 101}
	default:
		return nil, fmt.Errorf("benchmark does not support %s", hook)
	}
	for i := 0; i < n; i++ {
		a, err := netip.ParseAddr(NonMatchingAddr(i))
		if err != nil {
			return nil, err
		}
		c.Rules = append(c.Rules, &ir.Rule{
			Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: a.AsSlice()}},
			Counter: true,
			Verdict: ir.Verdict{Kind: ir.Drop},
		})
	}
	return c, c.Validate()
}

// Install implements Firewall.
func (b *Bpfilter) Install(t *Topology, n int) error {
	c, err := BenchChain(b.Hook, uint32(t.DUTIf.Index), n)
	if err != nil {
		return err
	}
	if b.Hook == ir.HookXDP {
		if err := t.DetachDUTPass(); err != nil {
			return err
		}
	}
	err = t.DUT.Do(func() error {
		b.chain, err = engineLoad(c)
		return err
	})
	if err != nil && b.Hook == ir.HookXDP {
		return errorsJoin(err, t.AttachDUTPass())
	}
	return err
}

// Remove implements Firewall.
func (b *Bpfilter) Remove(t *Topology) error {
	var err error
	if b.chain != nil {
		err = b.chain.Close()
		b.chain = nil
	}
	if b.Hook == ir.HookXDP {
		err = errorsJoin(err, t.AttachDUTPass())
	}
	return err
}

func errorsJoin(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

func engineLoad(c *ir.Chain) (*engine.Chain, error) {
	return engine.LoadAndAttach(c, engine.Options{})
}
