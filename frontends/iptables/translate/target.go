package translate

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// target translates the rule's target into a verdict and actions.
func (rc *ruleCtx) target(t *abi.Target, h *abi.IPHeader) error {
	out := rc.out
	switch t.Kind {
	case abi.TargetFallthrough:
		out.Verdict = ir.Verdict{Kind: ir.Continue}
	case abi.TargetVerdict:
		switch t.Verdict {
		case abi.VerdictAccept:
			out.Verdict = ir.Verdict{Kind: ir.Accept}
		case abi.VerdictDrop:
			out.Verdict = ir.Verdict{Kind: ir.Drop}
		case abi.VerdictReturn:
			out.Verdict = ir.Verdict{Kind: ir.Return}
		default:
			name, _ := abi.VerdictName(t.Verdict)
			return rc.refuse(fmt.Sprintf("target %s (verdict %d)", name, t.Verdict), Unsupported["QUEUE"])
		}
	case abi.TargetJump:
		target, ok := rc.tr.names[t.Chain]
		if !ok {
			return rc.refuse("jump to unknown chain "+t.Chain, "")
		}
		gotoFlag := uint8(abi.FlagGoto)
		if rc.tr.fam == abi.IPv6 {
			gotoFlag = abi.FlagV6Goto
		}
		kind := ir.Jump
		if h.Flags&gotoFlag != 0 {
			kind = ir.Goto
		}
		out.Verdict = ir.Verdict{Kind: kind, Chain: target}
	case abi.TargetExtension:
		return rc.extTarget(t)
	default:
		return rc.refuse(fmt.Sprintf("target kind %d", t.Kind), "")
	}
	return nil
}

func (rc *ruleCtx) extTarget(t *abi.Target) error {
	out := rc.out
	switch t.Name {
	case "LOG":
		l, ok := t.Info.(*xt.Log)
		if !ok {
			return rc.refuse(fmt.Sprintf("target LOG revision %d", t.Revision), "no decoder for this revision")
		}
		out.Log = &ir.Log{Headers: ir.LogAll, Prefix: l.Prefix}
		out.Verdict = ir.Verdict{Kind: ir.Continue}
		return nil
	case "REJECT":
		if !rc.tr.opts.RejectAsDrop {
			return rc.refuse("target REJECT", Unsupported["REJECT"]+RejectAsDropHint)
		}
		rc.tr.opts.warn(fmt.Sprintf("chain %s rule %d (%s): REJECT translated as DROP: no reply is sent", rc.chain.Name, rc.num, rc.text))
		out.Verdict = ir.Verdict{Kind: ir.Drop}
		return nil
	}
	if reason, ok := Unsupported[t.Name]; ok {
		return rc.refuse("target "+t.Name, reason)
	}
	return rc.refuse("target "+t.Name, "not translated")
}
