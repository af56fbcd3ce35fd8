package daemon

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// benchRuleEdits runs the chain.update-rules sub-benchmarks of
// BenchmarkDaemonUpdate: one rule replaced, or inserted then deleted
// (alternately), in the middle of a loaded n-rule chain, through the
// socket. newState builds the daemon state of mode.
func benchRuleEdits(b *testing.B, k rulegen.Kind, kind string, n int, mode string, newState func(*testing.B, string) *engineState) {
	drop := &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 250, 1}}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
	for _, op := range []string{"replace", "insert-delete"} {
		b.Run(fmt.Sprintf("rules-%s/%s/%d/%s", op, kind, n, mode), func(b *testing.B) {
			es := newState(b, mode)
			c := bigChain(b, k, n)
			at := singleSourceRule(c, n/2)
			if at < 0 {
				b.Fatal("no single source-address rule in the second half")
			}
			orig := c.Rules[at]
			if err := es.ChainLoad("cli", c, hostPeer{}, false); err != nil {
				b.Fatal(err)
			}
			cl := serveState(b, es.State)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var e proto.RuleEdit
				switch {
				case op == "replace" && i%2 == 0:
					e = proto.RuleEdit{Op: proto.EditReplace, Index: at, Rules: []*ir.Rule{drop}}
				case op == "replace":
					e = proto.RuleEdit{Op: proto.EditReplace, Index: at, Rules: []*ir.Rule{orig}}
				case i%2 == 0:
					e = proto.RuleEdit{Op: proto.EditInsert, Index: at, Rules: []*ir.Rule{drop}}
				default:
					e = proto.RuleEdit{Op: proto.EditDelete, Index: at}
				}
				do(b, cl, &proto.Request{Front: "cli", Cmd: proto.CmdChainUpdateRules, Name: "big", Edits: []proto.RuleEdit{e}})
			}
		})
	}
}
