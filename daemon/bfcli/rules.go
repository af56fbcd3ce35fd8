package bfcli

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// ruleCmd runs bfcli rule insert|replace|delete: one chain.update-rules
// edit. The rule text is sent as is; the daemon parses it against the
// chain (its hook and named sets), so the whole chain is never sent.
func ruleCmd(op string) func(*env) error {
	return func(e *env) error {
		if e.o.set["chain"] && e.o.set["name"] {
			return usagef("--chain and --name are the same option: give one")
		}
		if e.o.name == "" {
			return usagef("--chain is required")
		}
		if !e.o.set["index"] {
			return usagef("--index is required")
		}
		if e.o.index < 0 {
			return usagef("--index must be 0 or more")
		}
		if e.o.expectRules < -1 || (e.o.set["expect-rules"] && e.o.expectRules < 0) {
			return usagef("--expect-rules must be 0 or more")
		}
		ed := proto.RuleEdit{Op: op, Index: e.o.index}
		if op == proto.EditDelete {
			if e.o.count < 1 {
				return usagef("--count must be 1 or more")
			}
			ed.Count = e.o.count
		} else {
			_, src, err := e.source()
			if err != nil {
				return err
			}
			ed.Text = string(src)
		}
		req := &proto.Request{Cmd: proto.CmdChainUpdateRules, Name: e.o.name, Edits: []proto.RuleEdit{ed}, DryRun: e.o.dryRun}
		if e.o.expectRules >= 0 {
			n := e.o.expectRules
			req.ExpectRules = &n
		}
		_, err := e.do(req)
		return err
	}
}
