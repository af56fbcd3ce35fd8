package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// repr says how a loaded field value sits in its register.
type repr uint8

const (
	// reprRaw: the field's big-endian bytes loaded with a native-endian
	// load of the field's size (compare with nativeUint of the operand).
	reprRaw repr = iota
	// reprHost: the field's numeric value (compare with ir.Uint).
	reprHost
)

// loadSize returns the asm size of a 1, 2, 4 or 8 byte load.
func loadSize(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}

// nativeUint returns what a native-endian load of b (1, 2, 4 or 8 bytes)
// yields.
func nativeUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.NativeEndian.Uint16(b))
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	case 8:
		return binary.NativeEndian.Uint64(b)
	}
	return 0
}

// headerOffset returns the stack offset of a header field's bytes.
func headerOffset(f ir.Field) (int16, error) {
	fi := f.Info()
	switch fi.Layer {
	case ir.LayerL3:
		if fi.Load.Offset+fi.Load.Size > l3BufLen {
			return 0, fmt.Errorf("field %s is outside the network header buffer", f)
		}
		return int16(stackL3 + fi.Load.Offset), nil
	case ir.LayerL4:
		if fi.Load.Offset+fi.Load.Size > l4BufLen {
			return 0, fmt.Errorf("field %s is outside the transport header buffer", f)
		}
		return int16(stackL4 + fi.Load.Offset), nil
	}
	switch f {
	case ir.MetaSport:
		return stackL4, nil
	case ir.MetaDport:
		return stackL4 + 2, nil
	}
	return 0, fmt.Errorf("field %s is not read from a header", f)
}

// emitLoadField loads field f (at most 4 bytes wide) into dst. It may
// clobber R0-R5 (helper calls).
func (g *gen) emitLoadField(f ir.Field, dst asm.Register) (repr, error) {
	b := g.b
	switch f {
	case ir.MetaIface:
		g.emitIface(dst)
		return reprHost, nil
	case ir.MetaL3Proto:
		b.emit(asm.Mov.Reg(dst, regL3), asm.And.Imm(dst, 0xffff))
		return reprHost, nil
	case ir.MetaL4Proto:
		b.emit(asm.Mov.Reg(dst, regL4), asm.And.Imm(dst, 0xff))
		return reprHost, nil
	case ir.MetaMark:
		g.emitMark(dst)
		return reprHost, nil
	case ir.CtState:
		return reprHost, g.emitCtState(dst)
	case ir.AddrSType, ir.AddrDType, ir.AddrSTypeIif, ir.AddrDTypeIif, ir.AddrSTypeOif, ir.AddrDTypeOif:
		return reprHost, g.emitAddrType(f, dst)
	case ir.MetaFlowHash:
		if g.fl != ir.FlavourTC {
			return 0, fmt.Errorf("matcher %s is not supported by %s", f, g.hook)
		}
		b.emit(asm.Mov.Reg(asm.R1, regCtx), asm.FnGetHashRecalc.Call(), asm.Mov.Reg(dst, asm.R0))
		return reprHost, nil
	case ir.MetaSport, ir.MetaDport:
		off, _ := headerOffset(f)
		b.emit(asm.LoadMem(dst, asm.R10, off, asm.Half))
		return reprRaw, nil
	}
	fi := f.Info()
	if fi.Layer == ir.LayerMeta {
		return 0, fmt.Errorf("matcher %s cannot be loaded as a value", f)
	}
	off, err := headerOffset(f)
	if err != nil {
		return 0, err
	}
	ld := fi.Load
	if ld.Size != 1 && ld.Size != 2 && ld.Size != 4 {
		return 0, fmt.Errorf("field %s: unsupported load size %d", f, ld.Size)
	}
	b.emit(asm.LoadMem(dst, asm.R10, off, loadSize(ld.Size)))
	if ld.Shift == 0 && ld.Mask == 0 {
		return reprRaw, nil
	}
	if ld.Size > 1 {
		b.emit(asm.HostTo(asm.BE, dst, loadSize(ld.Size)))
	}
	if ld.Shift != 0 {
		b.emit(asm.RSh.Imm(dst, int32(ld.Shift)))
	}
	if ld.Mask != 0 {
		b.emit(asm.And.Imm32(dst, int32(ld.Mask)))
	}
	return reprHost, nil
}

// toHost converts a raw value of size bytes in r to its numeric value.
func (g *gen) toHost(r asm.Register, rp repr, size int) {
	if rp == reprRaw && size > 1 {
		g.b.emit(asm.HostTo(asm.BE, r, loadSize(size)))
	}
}
