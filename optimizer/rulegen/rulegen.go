// Package rulegen generates deterministic rulesets for the optimiser's tests
// and the backend's benchmarks: N rules differing only by source address,
// or a realistic mix shaped like real host firewalls (blocklists, trusted
// prefixes, per-interface service ports, port ranges, ICMP types), with a
// rule matching a given probe packet placed first, in the middle, last, or
// nowhere.
package rulegen

import (
	"fmt"
	"math/rand"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Kind selects the filler rules.
type Kind uint8

// Ruleset kinds.
const (
	// SourceAddrs: every rule is "ip4.saddr eq A DROP" with a distinct A
	// in 10.0.0.0/8.
	SourceAddrs Kind = iota
	// Mix: a realistic host-firewall mix (see package doc).
	Mix
)

// Placement says where the rule matching the probe goes.
type Placement uint8

// Placements.
const (
	// Nowhere: no rule matches the probe (the policy decides).
	Nowhere Placement = iota
	First
	Middle
	Last
)

// String returns the placement's name.
func (p Placement) String() string {
	return [...]string{"none", "first", "middle", "last"}[p%4]
}

// Config describes a generated chain.
type Config struct {
	Kind Kind
	// Rules is the total number of rules, the placed one included.
	Rules int
	Seed  int64
	// Hook of the chain (default XDP); Policy (default ACCEPT).
	Hook   ir.Hook
	Policy ir.Verdict
	// Probe is the packet filler rules never match (zero: DefaultProbe).
	Probe Probe
	Place Placement
	// MatchVerdict is the placed rule's verdict (default DROP).
	MatchVerdict *ir.Verdict
}

// maxAttempts bounds the retries when a filler rule would match the probe.
const maxAttempts = 1000

// Generate builds the chain. Filler rules that would match the probe are
// regenerated, so only the placed rule (if any) matches it.
func Generate(cfg Config) (*ir.Chain, error) {
	if cfg.Rules < 0 || cfg.Rules > 1<<24 {
		return nil, fmt.Errorf("rulegen: %d rules is out of range (0..%d)", cfg.Rules, 1<<24)
	}
	if cfg.Place != Nowhere && cfg.Rules == 0 {
		return nil, fmt.Errorf("rulegen: placing a matching rule needs at least one rule")
	}
	if !cfg.Probe.Src.IsValid() {
		cfg.Probe = DefaultProbe()
	}
	if cfg.Policy == (ir.Verdict{}) {
		cfg.Policy = ir.Verdict{Kind: ir.Accept}
	}
	mv := ir.Verdict{Kind: ir.Drop}
	if cfg.MatchVerdict != nil {
		mv = *cfg.MatchVerdict
	}
	c := &ir.Chain{Name: "rulegen", Hook: cfg.Hook, Policy: cfg.Policy}
	l2 := cfg.Hook.Flavour() == ir.FlavourXDP || cfg.Hook.Flavour() == ir.FlavourTC
	probe := cfg.Probe.Packet(l2)
	pp := ir.Parse(probe)
	rng := rand.New(rand.NewSource(cfg.Seed))
	fillers := cfg.Rules
	if cfg.Place != Nowhere {
		fillers--
	}
	g := &gen{rng: rng}
	for i := 0; i < fillers; i++ {
		var r *ir.Rule
		for a := 0; ; a++ {
			if a == maxAttempts {
				return nil, fmt.Errorf("rulegen: could not generate rule %d without matching the probe", i)
			}
			if cfg.Kind == SourceAddrs {
				r = g.sourceAddr(i)
			} else {
				r = g.mix(i)
			}
			if !ir.RuleMatches(c, r, probe, &pp) {
				break
			}
		}
		c.Rules = append(c.Rules, r)
	}
	if cfg.Place != Nowhere {
		pos := 0
		switch cfg.Place {
		case Middle:
			pos = len(c.Rules) / 2
		case Last:
			pos = len(c.Rules)
		}
		r := cfg.Probe.Rule(mv)
		c.Rules = append(c.Rules, nil)
		copy(c.Rules[pos+1:], c.Rules[pos:])
		c.Rules[pos] = r
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("rulegen: generated an invalid chain: %w", err)
	}
	return c, nil
}

// MatchIndex returns the index of the placed rule for n rules, or -1.
func MatchIndex(n int, p Placement) int {
	switch p {
	case First:
		return 0
	case Middle:
		return (n - 1) / 2
	case Last:
		return n - 1
	}
	return -1
}
