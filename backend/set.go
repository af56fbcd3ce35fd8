package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// setValue is the value stored for every set element.
var setValue = []byte{1}

// SetValue returns the map value of every set element (one byte, 1): the
// engine writes it with SetKey when it adds elements at run time.
func SetValue() []byte { return append([]byte(nil), setValue...) }

// SetKey returns the map key of elem in set s: the concatenated key bytes
// for hash sets; for LPM sets, the prefix length as a native-endian u32
// followed by the address with the host bits cleared.
func SetKey(s *ir.Set, elem ir.SetElem) []byte {
	if !s.IsLPM() {
		return append([]byte(nil), elem.Key...)
	}
	key := make([]byte, 4+len(elem.Key))
	binary.NativeEndian.PutUint32(key, uint32(elem.PrefixLen))
	copy(key[4:], andBytes(elem.Key, ir.PrefixMask(elem.PrefixLen, len(elem.Key))))
	return key
}

// setMapSpec builds the map of set s.
func setMapSpec(i int, s *ir.Set, minEntries uint32) (*ebpf.MapSpec, error) {
	w := s.KeyWidth()
	if w == 0 || w > maxKeyWidth {
		return nil, fmt.Errorf("set %s: key width %d is not supported (1 to %d bytes)", s.Name, w, maxKeyWidth)
	}
	entries := uint32(len(s.Elems)) + minEntries
	spec := &ebpf.MapSpec{
		Name:       SetMapName(i),
		Type:       ebpf.Hash,
		KeySize:    uint32(w),
		ValueSize:  uint32(len(setValue)),
		MaxEntries: entries,
	}
	if s.IsLPM() {
		spec.Type = ebpf.LPMTrie
		spec.KeySize = uint32(4 + w)
		spec.Flags = bpfFNoPrealloc
	}
	for j, e := range s.Elems {
		if len(e.Key) != w {
			return nil, fmt.Errorf("set %s: element %d has %d bytes, want %d", s.Name, j, len(e.Key), w)
		}
		spec.Contents = append(spec.Contents, ebpf.MapKV{Key: SetKey(s, e), Value: setValue})
	}
	return spec, nil
}

// emitSetMatch builds the key of the set of m on the stack, looks it up and
// jumps to next unless the result (negated or not) holds. The rule guard
// ensures that every key field is present.
func (g *gen) emitSetMatch(m *ir.Match, next string) error {
	idx := -1
	for i, s := range g.chain.Sets {
		if s.Name == m.Set {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("unknown set %q", m.Set)
	}
	s := g.chain.Sets[idx]
	w := s.KeyWidth()
	size := w
	pos := 0
	if s.IsLPM() {
		size += 4
		pos = 4
	}
	key := keyOffset(size)
	b := g.b
	if s.IsLPM() {
		b.emit(asm.StoreImm(asm.R10, key, int64(8*w), asm.Word))
	}
	for _, f := range s.Key {
		if err := g.emitKeyField(f, key+int16(pos)); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		pos += f.Width()
	}
	b.emit(mapLookup(SetMapName(idx), int32(key))...)
	if m.Negate {
		b.emit(asm.JNE.Imm(asm.R0, 0, next))
	} else {
		b.emit(asm.JEq.Imm(asm.R0, 0, next))
	}
	return nil
}

// emitKeyField writes field f big-endian at stack offset dst.
func (g *gen) emitKeyField(f ir.Field, dst int16) error {
	w := f.Width()
	if f.Info().Layer != ir.LayerMeta && f.Info().Load.Shift == 0 && f.Info().Load.Mask == 0 {
		src, err := headerOffset(f)
		if err != nil {
			return err
		}
		g.emitStackCopy(dst, src, w)
		return nil
	}
	if w > 4 {
		return fmt.Errorf("field %s cannot be a set key component", f)
	}
	rp, err := g.emitLoadField(f, asm.R1)
	if err != nil {
		return err
	}
	g.toHost(asm.R1, rp, w)
	// R1 holds the numeric value: store it big-endian, byte by byte
	// (dst need not be aligned).
	for i := 0; i < w; i++ {
		g.b.emit(
			asm.Mov.Reg(asm.R2, asm.R1),
			asm.RSh.Imm(asm.R2, int32(8*(w-1-i))),
			asm.StoreMem(asm.R10, dst+int16(i), asm.R2, asm.Byte),
		)
	}
	return nil
}

// emitStackCopy copies n bytes from src to dst on the stack with the widest
// accesses both alignments allow.
func (g *gen) emitStackCopy(dst, src int16, n int) {
	for i := 0; i < n; {
		for _, sz := range []int{8, 4, 2, 1} {
			if i+sz > n || int(dst+int16(i))%sz != 0 || int(src+int16(i))%sz != 0 {
				continue
			}
			g.b.emit(
				asm.LoadMem(asm.R1, asm.R10, src+int16(i), loadSize(sz)),
				asm.StoreMem(asm.R10, dst+int16(i), asm.R1, loadSize(sz)),
			)
			i += sz
			break
		}
	}
}
