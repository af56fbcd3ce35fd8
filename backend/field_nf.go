package backend

import (
	"bytes"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Netfilter-only fields of the iptables frontend: the input and output
// device names (state->in/out->name, compared under a mask as iptables'
// ifname_compare does) and the conntrack state (from skb->_nfct, as
// xt_conntrack computes it). Both read kernel structs through the BTF
// pointers of the netfilter context; a NULL device reads as zeros (the
// loads are probe loads), which is the name iptables compares when a hook
// has no device.

// resolveNetfilterFields fills the optional offsets (-1 when missing).
func resolveNetfilterFields(spec *btf.Spec, o *nfOffsets) {
	o.devName, o.skbNfct = -1, -1
	if off, err := memberOffset(spec, "net_device", "name"); err == nil {
		o.devName = off
	}
	if off, err := memberOffset(spec, "sk_buff", "_nfct"); err == nil {
		o.skbNfct = off
	}
	o.ctProtonum = -1
	if off, err := memberPath(spec, "nf_conn", "tuplehash", "tuple", "dst", "protonum"); err == nil {
		o.ctProtonum = off
	}
	o.ct = resolveCtEntry(spec) // field_ct.go
}

// memberPath is the offset of a nested member (arrays: their first
// element), e.g. nf_conn.tuplehash[0].tuple.dst.protonum.
func memberPath(spec *btf.Spec, typ string, path ...string) (int16, error) {
	var st *btf.Struct
	if err := spec.TypeByName(typ, &st); err != nil {
		return 0, fmt.Errorf("kernel type struct %s: %w", typ, err)
	}
	var t btf.Type = st
	total := uint32(0)
	for _, name := range path {
		var ms []btf.Member
		switch u := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			ms = u.Members
		case *btf.Union:
			ms = u.Members
		default:
			return 0, fmt.Errorf("kernel type %s: %s is not in a struct", typ, name)
		}
		off, mt, ok := findMemberType(ms, name)
		if !ok {
			return 0, fmt.Errorf("kernel type %s has no member %s", typ, name)
		}
		total += off
		t = btf.UnderlyingType(mt)
		if a, isArray := t.(*btf.Array); isArray {
			t = a.Type
		}
	}
	return int16(total), nil
}

// findMemberType is findMember returning the member's type too.
func findMemberType(ms []btf.Member, name string) (uint32, btf.Type, bool) {
	m, bits, ok := lookupMember(ms, name, 0)
	return bits / 8, m.Type, ok
}

// emitIfNameMatch compares the 16-byte device name with the match's value
// under its mask: two 64-bit compares.
func (g *gen) emitIfNameMatch(m *ir.Match, next string) error {
	if g.fl != ir.FlavourNF || g.nf == nil {
		return fmt.Errorf("matcher %s is only supported on netfilter hooks", m.Field)
	}
	if g.nf.devName < 0 {
		return fmt.Errorf("matcher %s: the kernel's struct net_device has no name member", m.Field)
	}
	if m.Op != ir.OpEq || len(m.Value) != ir.IfNameSize || (m.Mask != nil && len(m.Mask) != ir.IfNameSize) {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	mask := m.Mask
	if mask == nil {
		mask = bytes.Repeat([]byte{0xff}, ir.IfNameSize)
	}
	if !bytes.Equal(andBytes(m.Value, mask), m.Value) {
		g.constantMatch(m, false, next)
		return nil
	}
	if allZero(mask) {
		g.constantMatch(m, true, next)
		return nil
	}
	dev := g.nf.stateOut
	if m.Field == ir.MetaIifName {
		dev = g.nf.stateIn
	}
	b := g.b
	b.emit(
		asm.LoadMem(asm.R1, regCtx, nfCtxState, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, dev, asm.DWord),
	)
	// A mismatch of either half decides: without "not" it goes to next,
	// with "not" the match holds.
	miss := next
	if m.Negate {
		miss = b.fresh("ifname_differs")
	}
	for half := 0; half < 2; half++ {
		mk := nativeUint(mask[half*8 : half*8+8])
		if mk == 0 {
			continue
		}
		val := nativeUint(m.Value[half*8 : half*8+8])
		b.emit(asm.LoadMem(asm.R2, asm.R1, g.nf.devName+int16(half*8), asm.DWord))
		if mk != ^uint64(0) {
			b.emit(asm.LoadImm(asm.R3, int64(mk), asm.DWord), asm.And.Reg(asm.R2, asm.R3))
		}
		b.emit(asm.LoadImm(asm.R3, int64(val), asm.DWord), asm.JNE.Reg(asm.R2, asm.R3, miss))
	}
	if m.Negate {
		b.emit(asm.Ja.Label(next))
		b.label(miss)
	}
	return nil
}

// emitCtState loads the ct.state bit of the packet into dst (R1), using
// R2 and R3 as scratch registers.
func (g *gen) emitCtState(dst asm.Register) error {
	if g.fl != ir.FlavourNF || g.nf == nil {
		return fmt.Errorf("matcher %s is only supported on netfilter hooks", ir.CtState)
	}
	if g.nf.skbNfct < 0 {
		return fmt.Errorf("matcher %s needs a kernel with connection tracking (struct sk_buff has no _nfct member)", ir.CtState)
	}
	if dst == asm.R2 || dst == asm.R3 {
		return fmt.Errorf("matcher %s: cannot load into %s", ir.CtState, dst)
	}
	b := g.b
	noCt, have := b.fresh("ct_none"), b.fresh("ct_state")
	b.emit(
		asm.LoadMem(dst, regCtx, nfCtxSkb, asm.DWord),
		asm.LoadMem(dst, dst, g.nf.skbNfct, asm.DWord),
		asm.Mov.Reg(asm.R2, dst),
		asm.And.Imm(asm.R2, ir.NFCTInfoMask),
		asm.And.Imm(dst, ^int32(ir.NFCTInfoMask)), // sign-extended: clears only the info bits
		asm.JEq.Imm(dst, 0, noCt),
		// With an entry: 1 << (ctinfo % IP_CT_IS_REPLY + 1).
		asm.Mod.Imm(asm.R2, 3),
		asm.Add.Imm(asm.R2, 1),
		asm.Mov.Imm(dst, 1),
		asm.LSh.Reg(dst, asm.R2),
		asm.Ja.Label(have),
	)
	b.label(noCt)
	b.emit(
		asm.Mov.Imm(dst, ir.CtStateInvalid),
		asm.JNE.Imm(asm.R2, ir.CtInfoUntracked, have),
		asm.Mov.Imm(dst, ir.CtStateUntracked),
	)
	b.label(have) // names the caller's next instruction
	return nil
}
