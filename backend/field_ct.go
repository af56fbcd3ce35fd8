package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Conntrack entry fields (ir/conntrack.go): the conntrack entry skb->_nfct
// points to is read with bpf_probe_read_kernel at offsets taken from the
// kernel's BTF, as xt_conntrack reads struct nf_conn. Without an entry
// the match holds (conntrack_mt decides those packets by the state
// alone). ct.expire also needs bpf_jiffies64 and the kernel's HZ.

// ctEntryOffsets are the struct nf_conn offsets the fields read (ok:
// every one was found).
type ctEntryOffsets struct {
	ok              bool
	status, timeout int16
	statusSize      int
	timeoutSize     int
	src, dst        [2]int16 // tuplehash[dir].tuple.{src,dst}.u3
	sport, dport    [2]int16 // tuplehash[dir].tuple.{src,dst}.u.all
}

// resolveCtEntry finds the offsets in spec; a kernel without them (no
// conntrack) leaves ok false and the fields are refused at compile time.
func resolveCtEntry(spec *btf.Spec) ctEntryOffsets {
	var o ctEntryOffsets
	var conn *btf.Struct
	if err := spec.TypeByName("nf_conn", &conn); err != nil {
		return o
	}
	th, thType, ok := findMemberType(conn.Members, "tuplehash")
	if !ok {
		return o
	}
	arr, isArray := btf.UnderlyingType(thType).(*btf.Array)
	if !isArray || arr.Nelems < 2 {
		return o
	}
	elem, err := btf.Sizeof(arr.Type)
	if err != nil {
		return o
	}
	status, stType, ok1 := findMemberType(conn.Members, "status")
	timeout, toType, ok2 := findMemberType(conn.Members, "timeout")
	if !ok1 || !ok2 {
		return o
	}
	if o.statusSize, err = btf.Sizeof(stType); err != nil || (o.statusSize != 4 && o.statusSize != 8) {
		return o
	}
	if o.timeoutSize, err = btf.Sizeof(toType); err != nil || o.timeoutSize != 4 {
		return o
	}
	o.status, o.timeout = int16(status), int16(timeout)
	paths := []struct {
		dst  *[2]int16
		path []string
	}{
		{&o.src, []string{"tuple", "src", "u3"}},
		{&o.dst, []string{"tuple", "dst", "u3"}},
		{&o.sport, []string{"tuple", "src", "u", "all"}},
		{&o.dport, []string{"tuple", "dst", "u", "all"}},
	}
	for _, p := range paths {
		off, err := memberPath(spec, "nf_conntrack_tuple_hash", p.path...)
		if err != nil {
			return o
		}
		for dir := 0; dir < 2; dir++ {
			p.dst[dir] = int16(int(th) + dir*elem + int(off))
		}
	}
	o.ok = true
	return o
}

// ctRead says where a conntrack entry field is and how wide it is.
func (o *ctEntryOffsets) ctRead(f ir.Field) (off int16, size int) {
	switch f {
	case ir.CtStatus:
		return o.status, o.statusSize
	case ir.CtExpire:
		return o.timeout, o.timeoutSize
	case ir.CtOrigSaddr4:
		return o.src[0], 4
	case ir.CtOrigDaddr4:
		return o.dst[0], 4
	case ir.CtReplSaddr4:
		return o.src[1], 4
	case ir.CtReplDaddr4:
		return o.dst[1], 4
	case ir.CtOrigSaddr6:
		return o.src[0], 16
	case ir.CtOrigDaddr6:
		return o.dst[0], 16
	case ir.CtReplSaddr6:
		return o.src[1], 16
	case ir.CtReplDaddr6:
		return o.dst[1], 16
	case ir.CtOrigSport:
		return o.sport[0], 2
	case ir.CtOrigDport:
		return o.dport[0], 2
	case ir.CtReplSport:
		return o.sport[1], 2
	case ir.CtReplDport:
		return o.dport[1], 2
	}
	return 0, 0
}

// stackCt is where an entry field is copied: the set key area, which is
// only used inside set matches.
var stackCt = keyOffset(16)

// emitCtEntryMatch compiles a match on a conntrack entry field.
func (g *gen) emitCtEntryMatch(m *ir.Match, next string) error {
	if g.fl != ir.FlavourNF || g.nf == nil {
		return fmt.Errorf("matcher %s is only supported on netfilter hooks", m.Field)
	}
	if g.nf.skbNfct < 0 {
		return fmt.Errorf("matcher %s needs a kernel with connection tracking (struct sk_buff has no _nfct member)", m.Field)
	}
	w := m.Field.Width()
	if len(m.Value) != w || (m.Mask != nil && len(m.Mask) != w) || (m.Op == ir.OpRange && len(m.High) != w) {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	var off int16
	var size int
	switch m.Field {
	case ir.CtDir:
	case ir.CtProto:
		if g.nf.ctProtonum < 0 {
			return fmt.Errorf("matcher %s needs a kernel with connection tracking (struct nf_conn)", m.Field)
		}
		off, size = g.nf.ctProtonum, 1
	default:
		if !g.nf.ct.ok {
			return fmt.Errorf("matcher %s needs a kernel with connection tracking (struct nf_conn tuple, status and timeout)", m.Field)
		}
		off, size = g.nf.ct.ctRead(m.Field)
		if size == 0 {
			return fmt.Errorf("matcher %s is not a conntrack entry field", m.Field)
		}
	}
	hz := uint32(0)
	if m.Field == ir.CtExpire {
		var err error
		if hz, err = g.kernelHZ(); err != nil {
			return fmt.Errorf("matcher %s: %w", m.Field, err)
		}
	}
	b := g.b
	holds := b.fresh("ct_no_entry")
	b.emit(
		asm.LoadMem(asm.R3, regCtx, nfCtxSkb, asm.DWord),
		asm.LoadMem(asm.R3, asm.R3, g.nf.skbNfct, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R3),
		asm.And.Imm(asm.R2, ir.NFCTInfoMask),
		asm.And.Imm(asm.R3, ^int32(ir.NFCTInfoMask)), // sign-extended: clears only the info bits
		asm.JEq.Imm(asm.R3, 0, holds),
	)
	if m.Field == ir.CtDir {
		// CTINFO2DIR: ctinfo >= IP_CT_IS_REPLY is the reply direction.
		orig := b.fresh("ct_dir_orig")
		b.emit(
			asm.Mov.Imm(asm.R1, ir.CtDirOriginal),
			asm.JLT.Imm(asm.R2, 3, orig),
			asm.Mov.Imm(asm.R1, ir.CtDirReply),
		)
		b.label(orig)
		g.emitEq(m, reprHost, next)
		b.label(holds)
		return nil
	}
	b.emit(
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, int32(stackCt)),
		asm.Mov.Imm(asm.R2, int32(size)),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, next),
	)
	if err := g.emitCtCompare(m, size, hz, next); err != nil {
		return err
	}
	b.label(holds)
	return nil
}

// emitCtCompare compares the field copied to stackCt with m's operand.
func (g *gen) emitCtCompare(m *ir.Match, size int, hz uint32, next string) error {
	b := g.b
	switch m.Field {
	case ir.CtOrigSaddr6, ir.CtOrigDaddr6, ir.CtReplSaddr6, ir.CtReplDaddr6:
		if m.Op != ir.OpEq {
			return fmt.Errorf("matcher %s does not support operator %s", m.Field, m.Op)
		}
		return g.emitEq16At(m, stackCt, next)
	case ir.CtExpire:
		// nf_ct_expires: max((s32)(timeout - (u32)jiffies), 0), then / HZ.
		pos := b.fresh("ct_expire_pos")
		b.emit(
			asm.FnJiffies64.Call(),
			asm.LoadMem(asm.R1, asm.R10, stackCt, asm.Word),
			asm.Sub.Reg32(asm.R1, asm.R0),
			asm.JSGE.Imm32(asm.R1, 0, pos),
			asm.Mov.Imm32(asm.R1, 0),
		)
		b.label(pos)
		b.emit(asm.Div.Imm(asm.R1, int32(hz)))
		return g.emitCtValue(m, reprHost, next)
	case ir.CtStatus:
		b.emit(asm.LoadMem(asm.R1, asm.R10, stackCt, loadSize(size)))
		if m.Op != ir.OpAny {
			return fmt.Errorf("matcher %s does not support operator %s", m.Field, m.Op)
		}
		// !!(status_mask & ct->status); the mask is 32 bits wide.
		b.emit(asm.LoadImm(asm.R2, int64(ir.Uint(m.Value)), asm.DWord), asm.And.Reg(asm.R1, asm.R2))
		if m.Negate {
			b.emit(asm.JNE.Imm(asm.R1, 0, next))
		} else {
			b.emit(asm.JEq.Imm(asm.R1, 0, next))
		}
		return nil
	case ir.CtProto:
		b.emit(asm.LoadMem(asm.R1, asm.R10, stackCt, asm.Byte))
		return g.emitCtValue(m, reprHost, next)
	}
	// IPv4 addresses and ports: network order bytes.
	b.emit(asm.LoadMem(asm.R1, asm.R10, stackCt, loadSize(size)))
	return g.emitCtValue(m, reprRaw, next)
}

// emitCtValue compares R1 with an eq or range operand.
func (g *gen) emitCtValue(m *ir.Match, rp repr, next string) error {
	switch m.Op {
	case ir.OpEq:
		g.emitEq(m, rp, next)
	case ir.OpRange:
		g.toHost(asm.R1, rp, m.Field.Width())
		g.emitRange(m, next)
	default:
		return fmt.Errorf("matcher %s does not support operator %s", m.Field, m.Op)
	}
	return nil
}

// kernelHZ is Options.HZ, else the running kernel's (KernelHZ).
func (g *gen) kernelHZ() (uint32, error) {
	if g.nf.hz != 0 {
		return g.nf.hz, nil
	}
	return KernelHZ()
}
