package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
)

// lookupMapSpecs adds the maps of the plan's lookup segments (those
// compiled as lookups, see lookupSupported) and bf_actions to spec.
func (g *gen) lookupMapSpecs(p *optimizer.Plan, spec *ebpf.CollectionSpec) error {
	used := false
	for _, si := range g.lookupAt {
		s := &p.Segments[si]
		used = true
		for fi := range s.Filters {
			spec.Maps[filterMapName(si, fi)] = FilterMapSpec(filterMapName(si, fi), &s.Filters[fi])
			if s.Filters[fi].Dir16 {
				spec.Maps[dir16MapName(si, fi)] = Dir16MapSpec(dir16MapName(si, fi), &s.Filters[fi])
			}
		}
		for ci := range s.Classes {
			spec.Maps[classMapName(si, ci)] = ClassMapSpec(classMapName(si, ci), &s.Classes[ci])
		}
		for pi := range s.Prechecks {
			spec.Maps[precheckMapName(si, pi)] = PrecheckMapSpec(precheckMapName(si, pi), s, pi)
		}
		for ti := range s.Tables {
			t := &s.Tables[ti]
			if t.Kind == optimizer.TableAlways {
				continue
			}
			spec.Maps[tableMapName(si, ti)] = TableMapSpec(tableMapName(si, ti), t)
		}
	}
	if !used {
		return nil
	}
	as := &ebpf.MapSpec{
		Name:       ActionsMap,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  actionValueSize,
		MaxEntries: max(p.IDCap, 1),
	}
	for i, info := range p.Rules {
		if !info.Classified {
			continue
		}
		v, err := g.actionValue(p.Chain.Rules[i])
		if err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		as.Contents = append(as.Contents, ebpf.MapKV{Key: info.ID, Value: v})
	}
	spec.Maps[ActionsMap] = as
	return nil
}

// actionValue encodes the bf_actions entry of a classified rule.
func (g *gen) actionValue(r *ir.Rule) ([]byte, error) {
	var code, flags, mark, ifindex uint32
	switch r.Verdict.Kind {
	case ir.Redirect:
		code, flags, ifindex = codeRedirectOut, actionRedirect, r.Verdict.Ifindex
		if r.Verdict.Dir == ir.DirIn {
			code = codeRedirectIn
		}
	default:
		c, err := g.verdictCode(r.Verdict.Kind)
		if err != nil {
			return nil, err
		}
		code = uint32(c)
	}
	if r.Mark != nil {
		if g.fl != ir.FlavourTC && g.fl != ir.FlavourCgroupSkb {
			return nil, fmt.Errorf("mark is not supported by %s", g.hook)
		}
		flags |= actionMark
		mark = *r.Mark
	}
	v := make([]byte, actionValueSize)
	binary.NativeEndian.PutUint32(v, code)
	binary.NativeEndian.PutUint32(v[4:], flags)
	binary.NativeEndian.PutUint32(v[8:], mark)
	binary.NativeEndian.PutUint32(v[12:], ifindex)
	return v, nil
}

// TableMapSpec is the BPF map of a lookup table, with its entries.
func TableMapSpec(name string, t *optimizer.Table) *ebpf.MapSpec {
	ms := &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Hash,
		KeySize:    uint32(t.MapKeySize()),
		ValueSize:  optimizer.ValueSize,
		MaxEntries: uint32(max(t.Capacity, len(t.Entries), 1)),
		Flags:      t.MapFlags(),
		Contents:   make([]ebpf.MapKV, 0, len(t.Entries)),
	}
	if t.Kind == optimizer.TableLPM {
		ms.Type = ebpf.LPMTrie
	}
	for _, e := range t.Entries {
		ms.Contents = append(ms.Contents, ebpf.MapKV{Key: t.MapKey(e.Key, e.PrefixLen), Value: e.Value.Native()})
	}
	return ms
}

// FilterMapSpec is the BPF map of an address filter: address (or prefix)
// to a u32 table bitmap.
func FilterMapSpec(name string, f *optimizer.Filter) *ebpf.MapSpec {
	w := f.Field.Width()
	ms := &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Hash,
		KeySize:    uint32(w),
		ValueSize:  4,
		MaxEntries: uint32(max(f.Capacity, len(f.Entries), 1)),
		Contents:   make([]ebpf.MapKV, 0, len(f.Entries)),
	}
	if f.LPM {
		ms.Type, ms.KeySize, ms.Flags = ebpf.LPMTrie, uint32(4+w), bpfFNoPrealloc
	}
	for _, e := range f.Entries {
		ms.Contents = append(ms.Contents, ebpf.MapKV{Key: FilterKey(f, e.Key, e.PrefixLen), Value: e.Bits})
	}
	return ms
}

// FilterKey encodes a filter key as its map expects it.
func FilterKey(f *optimizer.Filter, key []byte, prefixLen int) []byte {
	if !f.LPM {
		return append([]byte(nil), key...)
	}
	k := binary.NativeEndian.AppendUint32(make([]byte, 0, 4+len(key)), uint32(prefixLen))
	return append(k, key...)
}

// ClassMapSpec is the array of class ids of a range field, indexed by the
// field's value.
func ClassMapSpec(name string, c *optimizer.ClassMap) *ebpf.MapSpec {
	arr := c.Array()
	ms := &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  optimizer.ClassWidth,
		MaxEntries: uint32(len(arr)),
		Contents:   make([]ebpf.MapKV, 0, len(arr)),
	}
	for i, v := range arr {
		if v != 0 { // arrays start zeroed
			ms.Contents = append(ms.Contents, ebpf.MapKV{Key: uint32(i), Value: v})
		}
	}
	return ms
}

// TableMapName is the map name of table ti of lookup segment si.
func TableMapName(si, ti int) string { return tableMapName(si, ti) }

// FilterMapName is the map name of filter fi of lookup segment si.
func FilterMapName(si, fi int) string { return filterMapName(si, fi) }

// ClassMapName is the map name of range class ci of lookup segment si.
func ClassMapName(si, ci int) string { return classMapName(si, ci) }
