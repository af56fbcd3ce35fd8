package backend

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// builder accumulates instructions and resolves labels. A label names the
// next emitted instruction; several labels on one instruction are aliased
// to the first, because an asm.Instruction carries a single symbol.
//
// The builder also drops unreachable code, which the verifier refuses:
// after an unconditional jump or an exit, instructions are discarded until
// a label that some emitted jump refers to. Code generation only jumps
// forward, so a label's references are all known when it is placed.
type builder struct {
	insns   asm.Instructions
	pending string
	alias   map[string]string
	refs    map[string]int
	source  fmt.Stringer
	nlabel  int
	dead    bool
}

func newBuilder() *builder { return &builder{alias: map[string]string{}, refs: map[string]int{}} }

// emit appends instructions, attaching a pending label and source comment
// to the first one.
func (b *builder) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if b.dead {
			continue
		}
		if ref := in.Reference(); ref != "" {
			b.refs[ref]++
		}
		if op := in.OpCode.JumpOp(); in.OpCode.Class().IsJump() && (op == asm.Ja || op == asm.Exit) {
			b.dead = true
		}
		if b.pending != "" {
			in = in.WithSymbol(b.pending)
			b.pending = ""
		}
		if b.source != nil {
			in = in.WithSource(b.source)
			b.source = nil
		}
		b.insns = append(b.insns, in)
	}
}

// label names the next emitted instruction.
func (b *builder) label(name string) {
	if b.dead {
		if b.refs[name] == 0 {
			return
		}
		b.dead = false
	}
	if b.pending != "" {
		b.alias[name] = b.pending
		return
	}
	b.pending = name
}

// comment attaches a provenance comment to the next emitted instruction.
func (b *builder) comment(format string, a ...any) {
	b.source = asm.Comment(fmt.Sprintf(format, a...))
}

// fresh returns a new unique label with the given prefix.
func (b *builder) fresh(prefix string) string {
	b.nlabel++
	return fmt.Sprintf("%s_%d", prefix, b.nlabel)
}

// finish resolves aliased labels and returns the instructions.
func (b *builder) finish() (asm.Instructions, error) {
	if b.pending != "" && !b.dead {
		return nil, fmt.Errorf("label %q has no instruction", b.pending)
	}
	for i := range b.insns {
		ref := b.insns[i].Reference()
		if ref == "" {
			continue
		}
		if to, ok := b.alias[ref]; ok {
			b.insns[i] = b.insns[i].WithReference(to)
		}
	}
	return b.insns, nil
}

// storeImmDW emits *(u64 *)(dst + off) = value (sign-extended imm32), which
// asm.StoreImm does not build.
func storeImmDW(dst asm.Register, off int16, value int32) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: int64(value)}
}

// mapLookup is a call of bpf_map_lookup_elem on map name with the key at
// R10+key: R0 is then the value's address, or 0 when the key is absent.
func mapLookup(name string, key int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference(name),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, key),
		asm.FnMapLookupElem.Call(),
	}
}
