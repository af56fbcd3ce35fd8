package optimizer

import (
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestPlanEvalMatchesIREval is the property test: on random rulesets and
// packets, the plan gives exactly ir.Eval's result (verdict, deciding rule,
// hits in order, mark, parse error), under several option settings.
func TestPlanEvalMatchesIREval(t *testing.T) {
	optSets := []Options{
		{},
		{MaxTables: 2},
		{MaxReplication: 2, InlineMax: -1},
		{Linear: true},
	}
	deadline := time.Now().Add(4 * time.Second)
	rng := rand.New(rand.NewSource(1))
	g := rgen{rng: rng}
	classified, lookups := 0, 0
	for iter := 0; iter < 400 && time.Now().Before(deadline); iter++ {
		rs, c := g.chain(1 + g.n(60))
		if err := rs.Validate(); err != nil {
			t.Fatalf("generator made an invalid ruleset: %v", err)
		}
		pkts := make([]*ir.Packet, 200)
		for i := range pkts {
			pkts[i] = g.packet()
		}
		for _, o := range optSets {
			p, err := Build(c, o)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			classified += p.Stats.ClassifiedRules
			for _, pk := range pkts {
				want := ir.Eval(rs, c, pk)
				got := p.EvalRuleset(rs, pk)
				if want.Chain == c.Name && want.Rule >= 0 && p.Rules[want.Rule].Classified {
					lookups++
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("iteration %d, options %+v: plan and ir.Eval disagree\npacket mark %#x ifindex %d % x\nplan:  %+v\nir:    %+v\nstrategy:\n%s\nchain:\n%s",
						iter, o, pk.Mark, pk.Ifindex, pk.Data, got, want, p.Strategy(), dumpChain(c)+"user:\n"+dumpChain(rs.Chain("u")))
				}
			}
		}
	}
	// The test must exercise the lookup path, not only linear rules.
	if classified == 0 || lookups < 100 {
		t.Fatalf("too few classified decisions: %d classified rules, %d lookup decisions", classified, lookups)
	}
	t.Logf("%d classified rules, %d decisions by lookups", classified, lookups)
}

// TestPlanEvalMatchesIREvalClassifiable runs the property on rulesets made
// of classifiable rules, so lookup segments are long and mix hash, LPM,
// set and range-class tables; it checks those kinds were all exercised.
func TestPlanEvalMatchesIREvalClassifiable(t *testing.T) {
	deadline := time.Now().Add(4 * time.Second)
	g := rgen{rng: rand.New(rand.NewSource(2)), plain: true}
	var seen Stats
	lpmFilters := 0
	for iter := 0; iter < 300 && time.Now().Before(deadline); iter++ {
		rs, c := g.chain(1 + g.n(80))
		pkts := make([]*ir.Packet, 150)
		for i := range pkts {
			pkts[i] = g.packet()
		}
		for _, o := range []Options{{}, {MaxTables: 3, InlineMax: -1}, {MaxReplication: 3}} {
			p, err := Build(c, o)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			seen.HashTables += p.Stats.HashTables
			seen.LPMTables += p.Stats.LPMTables
			seen.ClassMaps += p.Stats.ClassMaps
			seen.AlwaysTables += p.Stats.AlwaysTables
			seen.InlineTables += p.Stats.InlineTables
			seen.Filters += p.Stats.Filters
			for _, sg := range p.Segments {
				for _, f := range sg.Filters {
					if f.LPM {
						lpmFilters++
					}
				}
			}
			for _, pk := range pkts {
				want := ir.Eval(rs, c, pk)
				if got := p.EvalRuleset(rs, pk); !reflect.DeepEqual(got, want) {
					t.Fatalf("iteration %d, options %+v: plan and ir.Eval disagree\npacket mark %#x ifindex %d % x\nplan:  %+v\nir:    %+v\nstrategy:\n%s\nchain:\n%s",
						iter, o, pk.Mark, pk.Ifindex, pk.Data, got, want, p.Strategy(), dumpChain(c))
				}
			}
		}
	}
	if seen.HashTables == 0 || seen.LPMTables == 0 || seen.ClassMaps == 0 || seen.AlwaysTables == 0 || seen.InlineTables == 0 || seen.Filters == 0 || lpmFilters == 0 {
		t.Fatalf("not every table kind was exercised: %+v", seen)
	}
	t.Logf("exercised: %v; %d LPM filters", seen, lpmFilters)
}

func dumpChain(c *ir.Chain) string {
	s := ""
	for i, r := range c.Rules {
		s += "  " + itoa(i) + ":"
		for _, m := range r.Matches {
			s += " " + m.String()
		}
		s += " " + r.Verdict.String() + "\n"
	}
	for _, st := range c.Sets {
		s += "  set " + st.Name + ": " + itoa(len(st.Elems)) + " elems\n"
	}
	return s
}

func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
