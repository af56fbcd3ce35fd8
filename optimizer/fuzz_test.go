package optimizer

import (
	"math/rand"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// FuzzPlanEval feeds arbitrary packet bytes and metadata through a random
// ruleset (chosen by seed) and checks the plan never panics and agrees with
// ir.Eval.
func FuzzPlanEval(f *testing.F) {
	g := rgen{rng: rand.New(rand.NewSource(1))}
	for i := 0; i < 8; i++ {
		f.Add(int64(i), g.packet().Data, uint32(i%4), uint32(i)<<8, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, seed int64, data []byte, ifindex, mark uint32, plain bool) {
		g := rgen{rng: rand.New(rand.NewSource(seed)), plain: plain}
		rs, c := g.chain(1 + g.n(40))
		p, err := Build(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pk := &ir.Packet{Data: data, L2: true, Ifindex: ifindex, Mark: mark}
		if got, want := p.EvalRuleset(rs, pk), ir.Eval(rs, c, pk); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan %+v, ir %+v", got, want)
		}
	})
}
