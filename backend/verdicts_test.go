package backend

import (
	"encoding/binary"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
)

// TestVerdicts checks every verdict on every packet hook where it is
// valid, as rule verdict and as policy, with the counters of the rule and
// the policy (packets and bytes).
func TestVerdicts(t *testing.T) {
	frame := tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0)
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		verdicts := []ir.Verdict{{Kind: ir.Accept}, {Kind: ir.Drop}, {Kind: ir.Next}}
		switch h.Flavour() {
		case ir.FlavourXDP:
			verdicts = append(verdicts, ir.Verdict{Kind: ir.Redirect, Ifindex: 1})
		case ir.FlavourTC:
			verdicts = append(verdicts, ir.Verdict{Kind: ir.Redirect, Ifindex: 1}, ir.Verdict{Kind: ir.Redirect, Ifindex: 1, Dir: ir.DirIn})
		}
		for _, v := range verdicts {
			for _, asPolicy := range []bool{false, true} {
				if asPolicy && !v.ValidPolicy() {
					continue
				}
				c := &ir.Chain{Name: "verdict", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
					{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "80", false)}, Verdict: ir.Verdict{Kind: ir.Continue}},
					{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "80", false)}, Verdict: v},
				}}
				if asPolicy {
					c.Policy = v
					c.Rules[1].Matches[0].Negate = true
				}
				l := compileAndLoad(t, c)
				p := testPacket{frame: frame}
				res := l.check(t, p)
				if res.Verdict != v {
					t.Fatalf("%s: ir.Eval gave %s, test expects %s", h, res.Verdict, v)
				}
				ctr := l.counters(t)
				n := packetLen(h, p)
				want := []Counter{{1, n}, {b2u(!asPolicy), b2u(!asPolicy) * n}, {b2u(asPolicy), b2u(asPolicy) * n}, {}}
				for i := range want {
					if ctr[i] != want[i] {
						t.Errorf("%s %s policy=%v: counter %d = %+v, want %+v", h, v, asPolicy, i, ctr[i], want[i])
					}
				}
			}
		}
	}
}

// TestMarkAction checks that the mark action writes skb->mark on TC and
// cgroup_skb, and that a later rule matching meta.mark sees it.
func TestMarkAction(t *testing.T) {
	frame := tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0)
	for _, h := range []ir.Hook{ir.HookTCIngress, ir.HookTCEgress, ir.HookCgroupSkbIngress, ir.HookCgroupSkbEgress} {
		mark := uint32(0xdeadbeef)
		c := &ir.Chain{Name: "mark", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
			{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "80", false)}, Mark: &mark, Verdict: ir.Verdict{Kind: ir.Continue}},
			{Matches: []ir.Match{eqMatch(t, ir.MetaMark, "0xdeadbeef", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
		}}
		l := compileAndLoad(t, c)
		res := l.check(t, testPacket{frame: frame, mark: 5})
		if res.Verdict.Kind != ir.Drop {
			t.Fatalf("%s: ir.Eval gave %s, want DROP (rule 1 sees the new mark)", h, res.Verdict)
		}
		opts, err := runOptions(h, testPacket{frame: frame, mark: 5})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, len(opts.Context.([]byte)))
		opts.ContextOut = out
		if _, err := l.coll.Programs[ProgramName].Run(opts); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if got := binary.NativeEndian.Uint32(out[skbMark:]); got != mark {
			t.Errorf("%s: skb->mark after the run = %#x, want %#x", h, got, mark)
		}
	}
}

// TestSetUpdateAtRunTime starts with an empty set (which never matches),
// then adds and removes an element through the map with SetKey.
func TestSetUpdateAtRunTime(t *testing.T) {
	for _, key := range [][]ir.Field{{ir.IP4Saddr}, {ir.IP4Snet}, {ir.TCPDport, ir.IP4Saddr}} {
		s := &ir.Set{Name: "dyn", Key: key}
		c := &ir.Chain{Name: "dyn", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}, Sets: []*ir.Set{s}, Rules: []*ir.Rule{
			{Matches: []ir.Match{{Op: ir.OpIn, Set: "dyn"}}, Verdict: ir.Verdict{Kind: ir.Drop}},
		}}
		l := compileAndLoad(t, c)
		p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0)}
		if res := l.check(t, p); res.Verdict.Kind != ir.Accept {
			t.Fatalf("empty set matched")
		}
		elem := ir.SetElem{Key: []byte{198, 18, 0, 1}, PrefixLen: 24}
		if len(key) == 2 {
			elem.Key = []byte{0, 80, 198, 18, 0, 1}
		}
		m := l.coll.Maps[l.prog.SetMaps["dyn"]]
		if err := m.Update(SetKey(s, elem), SetValue(), ebpf.UpdateAny); err != nil {
			t.Fatalf("add element: %v", err)
		}
		s.Elems = append(s.Elems, elem)
		if res := l.check(t, p); res.Verdict.Kind != ir.Drop {
			t.Errorf("%v: element added at run time did not match", key)
		}
		if err := m.Delete(SetKey(s, elem)); err != nil {
			t.Fatalf("remove element: %v", err)
		}
		s.Elems = nil
		l.check(t, p)
	}
}
