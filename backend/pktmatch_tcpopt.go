package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// tcp.option: the prologue of a chain that has tcp.option matches walks
// the TCP options once, as tcp_find_option does (see ir.TCPOptionPresent),
// and records in one 64-bit word which of the option kinds the chain asks
// about were found at the start of a step: kind kinds[j] sets bit j, and
// bit 63 says that the options cannot be walked (data offset below 5,
// options past the packet). Each match then tests one bit: bit 63 drops
// the packet uncounted (xt_tcpudp's hotdrop, ir.RuleOutcome), else the
// kind's bit decides. One walk per packet keeps both the per-rule code (a
// few instructions) and the verifier's work (one unrolled walk per
// program, a binary search of the kinds per step) small. The word reuses
// the IPv6 extension header buffer, which nothing reads after parsing.
const (
	stackTCPOptBits  = stackExt
	tcpOptUnwalkable = 63
	// maxTCPOptKinds is the number of distinct kinds a chain may test.
	maxTCPOptKinds = 63
)

// tcpOptionKinds returns the distinct kinds (sorted) that the tcp.option
// matches of c and of the chains of rs (user chains may be inlined) test,
// and whether any exists.
func tcpOptionKinds(c *ir.Chain, rs *ir.Ruleset) ([]uint8, bool, error) {
	chains := []*ir.Chain{c}
	if rs != nil {
		chains = append(chains, rs.Chains...)
	}
	var seen [256]bool
	any := false
	for _, ch := range chains {
		for _, r := range ch.Rules {
			if r == nil {
				continue
			}
			for _, m := range r.Matches {
				if m.Field == ir.TCPOption && len(m.Value) == 1 {
					seen[m.Value[0]], any = true, true
				}
			}
		}
	}
	var kinds []uint8
	for k := 0; k < 256; k++ {
		if seen[k] {
			kinds = append(kinds, uint8(k))
		}
	}
	if len(kinds) > maxTCPOptKinds {
		return nil, false, fmt.Errorf("matcher %s: %d distinct option kinds, at most %d in one chain", ir.TCPOption, len(kinds), maxTCPOptKinds)
	}
	return kinds, any, nil
}

// hotDrops reports whether a rule's matches include one that can drop the
// packet when reached (tcp.option): such rules are compiled match by
// match, in order, never branch-free, so that the matches before it
// decide whether it is reached and the ones after it do not.
func hotDrops(ms []*ir.Match) bool {
	for _, m := range ms {
		if m.Field == ir.TCPOption || m.Field == ir.XTL4 {
			return true
		}
	}
	return false
}

// emitTCPOptWalk emits the walk (after the parser) when the chain needs it.
func (g *gen) emitTCPOptWalk() {
	if !g.tcpOpts || g.fl == ir.FlavourCgroupSockAddr {
		return
	}
	b := g.b
	b.comment("tcp.option: walk the TCP options once")
	done, hot := b.fresh("tcpopt_walked"), b.fresh("tcpopt_unwalkable")
	b.emit(
		storeImmDW(asm.R10, stackTCPOptBits, 0),
		asm.JNE.Imm(regL4, ir.ProtoTCP|l4Known|l4Present, done),
		asm.LoadMem(asm.R1, asm.R10, stackL4+12, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.LSh.Imm(asm.R1, 2),
		asm.JLT.Imm(asm.R1, 20, hot),
		asm.Sub.Imm(asm.R1, 20),
		asm.JEq.Imm(asm.R1, 0, done),
		asm.JGT.Imm(asm.R1, tcpOptsMax, hot),
		asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord),
		asm.Add.Imm(asm.R2, 20),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.Add.Reg(asm.R3, asm.R1),
		asm.JGT.Reg(asm.R3, regLen, hot),
		asm.StoreMem(asm.R10, stackPktTmp, asm.R1, asm.DWord),
	)
	for off := int16(0); off < tcpOptsMax; off += 8 {
		b.emit(storeImmDW(asm.R10, stackTCPOpts+off, 0))
	}
	g.emitLoadBytesLen(stackTCPOpts)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, hot),
		asm.LoadMem(asm.R1, asm.R10, stackPktTmp, asm.DWord),
		asm.Mov.Imm(asm.R2, 0),
	)
	// R1 = option bytes, R2 = position, R3 = its address, R4 = kind or
	// length, R0 and R5 scratch.
	for i := 0; i < tcpOptsMax; i++ {
		one, cont := b.fresh("tcpopt_one"), b.fresh("tcpopt_next")
		b.emit(
			asm.JGE.Reg(asm.R2, asm.R1, done),
			asm.JGE.Imm(asm.R2, tcpOptsMax, done),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackTCPOpts),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R4, asm.R3, 0, asm.Byte),
		)
		g.emitSetKindBit()
		b.emit(
			asm.Mov.Reg(asm.R5, asm.R2),
			asm.Add.Imm(asm.R5, 1),
			asm.JLT.Imm(asm.R4, 2, one),
			// Past the last byte the walk ends whatever the length.
			asm.JGE.Reg(asm.R5, asm.R1, done),
			asm.JGE.Imm(asm.R5, tcpOptsMax, done),
			asm.LoadMem(asm.R4, asm.R3, 1, asm.Byte),
			asm.JEq.Imm(asm.R4, 0, one),
			asm.Add.Reg(asm.R2, asm.R4),
			asm.Ja.Label(cont),
		)
		b.label(one)
		b.emit(asm.Mov.Reg(asm.R2, asm.R5))
		b.label(cont)
	}
	b.emit(asm.Ja.Label(done))
	b.label(hot)
	b.emit(
		asm.LoadImm(asm.R0, -1<<tcpOptUnwalkable, asm.DWord), // bit 63 only
		asm.StoreMem(asm.R10, stackTCPOptBits, asm.R0, asm.DWord),
	)
	b.label(done)
	// Every path leaves a different constant in the word; the matches'
	// branches on it would make the verifier walk the rest of the program
	// once per constant. XOR it twice with a value it cannot know (the
	// clock) so that all paths arrive with the same unknown word.
	b.emit(
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.LoadMem(asm.R2, asm.R10, stackTCPOptBits, asm.DWord),
		asm.Xor.Reg(asm.R0, asm.R2),
		asm.Xor.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.R10, stackTCPOptBits, asm.R0, asm.DWord),
	)
}

// emitSetKindBit sets the bit of kind R4 when the chain tests it: a
// binary search over the sorted kinds, with R0 and R5 as scratch.
func (g *gen) emitSetKindBit() {
	skip := g.b.fresh("tcpopt_kind_done")
	g.emitKindSearch(g.tcpOptKinds, 0, skip)
	g.b.label(skip)
}

func (g *gen) emitKindSearch(kinds []uint8, first int, skip string) {
	b := g.b
	if len(kinds) == 1 {
		b.emit(
			asm.JNE.Imm(asm.R4, int32(kinds[0]), skip),
			asm.LoadMem(asm.R0, asm.R10, stackTCPOptBits, asm.DWord),
			asm.LoadImm(asm.R5, int64(uint64(1)<<first), asm.DWord),
			asm.Or.Reg(asm.R0, asm.R5),
			asm.StoreMem(asm.R10, stackTCPOptBits, asm.R0, asm.DWord),
			asm.Ja.Label(skip),
		)
		return
	}
	mid := len(kinds) / 2
	right := b.fresh("tcpopt_kinds_ge")
	b.emit(asm.JGE.Imm(asm.R4, int32(kinds[mid]), right))
	g.emitKindSearch(kinds[:mid], first, skip)
	b.label(right)
	g.emitKindSearch(kinds[mid:], first+mid, skip)
}

// emitTCPOptionMatch tests the kind's bit of the map the prologue built;
// a packet whose options cannot be walked is dropped without counting.
func (g *gen) emitTCPOptionMatch(m *ir.Match, next string) error {
	if m.Op != ir.OpEq || len(m.Value) != 1 || m.Mask != nil {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	if !g.tcpOpts || g.fl == ir.FlavourCgroupSockAddr {
		return fmt.Errorf("matcher %s is not supported on %s", m.Field, g.hook)
	}
	drop, err := g.verdictCode(ir.Drop)
	if err != nil {
		return err
	}
	b := g.b
	kind := int(m.Value[0])
	walked := b.fresh("tcpopt_ok")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackTCPOptBits, asm.DWord),
		asm.RSh.Imm(asm.R1, tcpOptUnwalkable),
		asm.JEq.Imm(asm.R1, 0, walked),
		// xt_tcpudp drops the packet on the spot (hotdrop): no counter.
		asm.Mov.Imm(regL3, drop),
		asm.LongJump("return"),
	)
	b.label(walked)
	bit := -1
	for j, k := range g.tcpOptKinds {
		if int(k) == kind {
			bit = j
		}
	}
	if bit < 0 {
		return fmt.Errorf("matcher %s: kind %d is missing from the chain's kinds", m.Field, kind)
	}
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackTCPOptBits, asm.DWord),
		asm.RSh.Imm(asm.R1, int32(bit)),
		asm.And.Imm(asm.R1, 1),
	)
	if m.Negate {
		b.emit(asm.JNE.Imm(asm.R1, 0, next))
	} else {
		b.emit(asm.JEq.Imm(asm.R1, 0, next))
	}
	return nil
}

// emitLoadBytesLen copies the number of bytes in R1 (1 to 40, checked)
// at the packet offset in R2 into the stack at dst; R0 is 0 on success.
func (g *gen) emitLoadBytesLen(dst int16) {
	b := g.b
	switch g.fl {
	case ir.FlavourXDP, ir.FlavourTC, ir.FlavourCgroupSkb:
		fn := asm.FnSkbLoadBytes
		if g.fl == ir.FlavourXDP {
			fn = asm.FnXdpLoadBytes
		}
		b.emit(
			asm.Mov.Reg(asm.R4, asm.R1),
			asm.Mov.Reg(asm.R1, regCtx),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, int32(dst)),
			fn.Call(),
		)
	case ir.FlavourNF:
		b.emit(
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Mov.Reg(asm.R2, asm.R1),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackDynptr),
			asm.Mov.Imm(asm.R5, 0),
			asm.FnDynptrRead.Call(),
		)
	}
}
