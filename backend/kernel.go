package backend

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// nfOffsets are the kernel struct offsets and the kfunc call a netfilter
// program needs, resolved from the kernel's BTF at compile time.
type nfOffsets struct {
	statePf, stateIn, stateOut int16
	devIfindex                 int16
	skbLen, skbMark            int16
	dynptrFromSkb              asm.Instruction
	// devName and skbNfct are optional (-1: the kernel lacks them):
	// meta.iifname/oifname and ct.state need them (field_nf.go).
	devName, skbNfct int16
	// ctProtonum is the offset of the original tuple's protocol in
	// struct nf_conn (-1: missing), for ct.proto.
	ctProtonum int16
	// ct holds the other conntrack entry offsets and hz the kernel's HZ
	// (field_ct.go).
	ct ctEntryOffsets
	hz uint32
	// pkt holds the offsets of meta.pkttype and eth.saddr (pktmatch_btf.go).
	pkt pktOffsets
}

// resolveNetfilter reads the offsets netfilter programs use from spec.
func resolveNetfilter(spec *btf.Spec) (*nfOffsets, error) {
	if spec == nil {
		var err error
		if spec, err = btf.LoadKernelSpec(); err != nil {
			return nil, fmt.Errorf("netfilter programs need kernel BTF: %w", err)
		}
	}
	var o nfOffsets
	fields := []struct {
		typ, member string
		dst         *int16
	}{
		{"nf_hook_state", "pf", &o.statePf},
		{"nf_hook_state", "in", &o.stateIn},
		{"nf_hook_state", "out", &o.stateOut},
		{"net_device", "ifindex", &o.devIfindex},
		{"sk_buff", "len", &o.skbLen},
		{"sk_buff", "mark", &o.skbMark},
	}
	for _, f := range fields {
		off, err := memberOffset(spec, f.typ, f.member)
		if err != nil {
			return nil, err
		}
		*f.dst = off
	}
	resolveNetfilterFields(spec, &o)
	o.pkt = resolvePktMatch(spec)
	var fn *btf.Func
	if err := spec.TypeByName("bpf_dynptr_from_skb", &fn); err != nil {
		return nil, fmt.Errorf("kfunc bpf_dynptr_from_skb: %w", err)
	}
	id, err := spec.TypeID(fn)
	if err != nil {
		return nil, fmt.Errorf("kfunc bpf_dynptr_from_skb: %w", err)
	}
	o.dynptrFromSkb = asm.Instruction{
		OpCode:   asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call),
		Src:      asm.PseudoKfuncCall,
		Constant: int64(id),
	}
	return &o, nil
}

// memberOffset finds member name of struct typ, looking into anonymous
// structs and unions.
func memberOffset(spec *btf.Spec, typ, name string) (int16, error) {
	var st *btf.Struct
	if err := spec.TypeByName(typ, &st); err != nil {
		return 0, fmt.Errorf("kernel type struct %s: %w", typ, err)
	}
	off, ok := findMember(st.Members, name)
	if !ok {
		return 0, fmt.Errorf("kernel type struct %s has no member %s: %w", typ, name, errors.ErrUnsupported)
	}
	return int16(off), nil
}

// findMember returns the byte offset of member name, looking into
// anonymous structs and unions.
func findMember(ms []btf.Member, name string) (uint32, bool) {
	_, bits, ok := lookupMember(ms, name, 0)
	return bits / 8, ok
}

// lookupMember finds member name in ms, descending into anonymous structs
// and unions, and returns it with its bit offset from the start of the
// outermost struct (base included).
func lookupMember(ms []btf.Member, name string, base uint32) (btf.Member, uint32, bool) {
	for _, m := range ms {
		off := base + uint32(m.Offset)
		if m.Name == name {
			return m, off, true
		}
		if m.Name != "" {
			continue
		}
		var inner []btf.Member
		switch t := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct:
			inner = t.Members
		case *btf.Union:
			inner = t.Members
		}
		if found, bits, ok := lookupMember(inner, name, off); ok {
			return found, bits, true
		}
	}
	return btf.Member{}, 0, false
}
