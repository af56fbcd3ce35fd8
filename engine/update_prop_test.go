package engine_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// probeFor builds a UDP/TCP probe aimed at rule r: its addresses, protocol
// and destination port, where r names them (ifindex 1, as XDP test runs
// report it).
func probeFor(r *ir.Rule) *ir.Packet {
	p := rulegen.DefaultProbe()
	p.Ifindex = 1
	for _, m := range r.Matches {
		if m.Op != ir.OpEq || m.Negate {
			continue
		}
		switch m.Field {
		case ir.IP4Saddr, ir.IP4Snet:
			p.Src = addr4(m.Value)
		case ir.IP4Daddr, ir.IP4Dnet:
			p.Dst = addr4(m.Value)
		case ir.MetaL4Proto:
			if m.Value[0] == ir.ProtoTCP || m.Value[0] == ir.ProtoUDP {
				p.Proto = m.Value[0]
			}
		case ir.MetaDport, ir.TCPDport, ir.UDPDport:
			p.Dport = uint16(m.Value[0])<<8 | uint16(m.Value[1])
		}
	}
	return p.Packet(true)
}

func addr4(b []byte) netip.Addr {
	var a [4]byte
	copy(a[:], b)
	return netip.AddrFrom4(a)
}

// TestUpdateRandomEdits applies random one-rule edits (replace, move,
// delete plus insert) to a loaded 2,000-rule mix with Update (Replace when Update
// needs a reload) and checks, after each edit, the kernel's verdicts and
// per-rule counters against ir.Eval of the edited chain on packets aimed
// at random rules.
func TestUpdateRandomEdits(t *testing.T) {
	testenv.RequireBPF(t)
	const n, edits = 2000, 40
	c, err := rulegen.Generate(rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	donor, err := rulegen.Generate(rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := engine.Load(c, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	rng := rand.New(rand.NewPCG(5, 6))
	updated := 0
	for e := 0; e < edits; e++ {
		next := lc.IR.Clone()
		i := rng.IntN(len(next.Rules))
		switch rng.IntN(3) {
		case 0:
			next.Rules[i] = donor.Rules[rng.IntN(n)]
		case 1:
			// Move rule i elsewhere.
			r := next.Rules[i]
			next.Rules = append(next.Rules[:i:i], next.Rules[i+1:]...)
			j := rng.IntN(len(next.Rules) + 1)
			next.Rules = append(next.Rules[:j:j], append([]*ir.Rule{r}, next.Rules[j:]...)...)
		default:
			// Delete rule i and insert a new one elsewhere (its ID is
			// reused, the counter map keeps its size).
			next.Rules = append(next.Rules[:i:i], next.Rules[i+1:]...)
			j := rng.IntN(len(next.Rules) + 1)
			next.Rules = append(next.Rules[:j:j], append([]*ir.Rule{donor.Rules[rng.IntN(n)]}, next.Rules[j:]...)...)
		}
		ok, why, err := lc.Update(next)
		if err != nil {
			t.Fatalf("edit %d: %v", e, err)
		}
		if ok {
			updated++
		} else {
			t.Logf("edit %d: reload (%s)", e, why)
			nc, err := engine.Load(next, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := lc.Replace(nc); err != nil {
				t.Fatal(err)
			}
		}
		prog := lc.Collection().Programs["bf_prog"]
		for k := 0; k < 20; k++ {
			target := next.Rules[rng.IntN(len(next.Rules))]
			if k == 0 && e%2 == 0 {
				target = next.Rules[min(i, len(next.Rules)-1)]
			}
			pkt := probeFor(target)
			res := ir.Eval(nil, lc.IR, pkt)
			before, err := lc.Counters()
			if err != nil {
				t.Fatal(err)
			}
			ret, err := prog.Run(&ebpf.RunOptions{Data: pkt.Data})
			if err != nil {
				t.Fatal(err)
			}
			want := uint32(xdpPassRet)
			if res.Verdict.Kind == ir.Drop {
				want = xdpDropRet
			}
			if ret != want {
				t.Fatalf("edit %d: packet % x: verdict %d, ir.Eval %s by rule %d", e, pkt.Data, ret, res.Verdict, res.Rule)
			}
			after, err := lc.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if res.Rule >= 0 && after.Rules[res.Rule].Packets != before.Rules[res.Rule].Packets+1 {
				t.Fatalf("edit %d: rule %d not counted", e, res.Rule)
			}
			if res.Rule < 0 && after.Policy.Packets != before.Policy.Packets+1 {
				t.Fatalf("edit %d: policy not counted", e)
			}
		}
	}
	t.Logf("%d of %d edits applied as map writes", updated, edits)
	if updated < edits/2 {
		t.Errorf("only %d of %d edits were map writes", updated, edits)
	}
}
