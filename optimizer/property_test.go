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
	g := rgen{rng}
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
