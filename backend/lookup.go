package backend

import (
	"fmt"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf/asm"
)

// Lookup segments (see docs/OPTIMISER.md, "Per-packet algorithm"): the
// optimiser's tables become BPF maps looked up with keys built on the
// stack; the hit with the smallest priority names the rule, whose action
// is read from the bf_actions array (so rule actions are data, too).

// Stack slots of a lookup segment, below the set key area (keyOffset of
// maxKeyWidth bytes ends at -392).
const (
	stackBestPrio = -400 // u32 smallest priority hit so far (0xffffffff: none)
	stackBestID   = -396 // u32 rule ID of that hit
	stackFilters  = -440 // u32 bitmap per filter, maxSegFilters of them
	// stackPrechecks: u32 table bitmap per field precheck (precheck.go),
	// optimizer.MaxPrechecks of them.
	stackPrechecks = -424
	stackClasses   = -480 // u32 class id per class map (0xffffffff: absent)
	// maxSegFilters: one filter per address field (ip4/ip6 source and
	// destination) is all the optimiser makes.
	maxSegFilters = 4
	maxSegClasses = 8
	classAbsent   = -1
)

// ActionsMap is the per-rule action array of lookup segments, indexed by
// rule ID (see ActionValue).
const ActionsMap = "bf_actions"

// Action flags of an ActionValue.
const (
	actionMark     = 1 << 0
	actionRedirect = 1 << 1
)

// actionValueSize is the size of an encoded action: {u32 code; u32 flags;
// u32 mark; u32 ifindex}, host order.
const actionValueSize = 16

// tableMapName, filterMapName and classMapName name the maps of segment
// si (map names are at most 15 characters).
func tableMapName(si, ti int) string  { return fmt.Sprintf("bf_t%d_%d", si, ti) }
func filterMapName(si, fi int) string { return fmt.Sprintf("bf_f%d_%d", si, fi) }
func dir16MapName(si, fi int) string  { return fmt.Sprintf("bf_d%d_%d", si, fi) }
func classMapName(si, ci int) string  { return fmt.Sprintf("bf_c%d_%d", si, ci) }

// lookupSupported reports whether segment s can be compiled as lookups;
// otherwise its rules are compiled linearly (always correct, only slower).
func lookupSupported(s *optimizer.Segment, si int) bool {
	if s.Kind != optimizer.SegLookup || len(s.Filters) > maxSegFilters || len(s.Classes) > maxSegClasses || si > 999 || len(s.Tables) > 999 ||
		len(s.Prechecks) > optimizer.MaxPrechecks {
		return false
	}
	for _, t := range s.Tables {
		if t.MapKeySize() > maxKeyWidth {
			return false
		}
		for _, kp := range t.Key {
			if kp.Class < 0 && kp.Field.Info().Layer == ir.LayerMeta && kp.Width > 4 {
				return false
			}
		}
	}
	for _, f := range s.Filters {
		if 4+f.Field.Width() > maxKeyWidth {
			return false
		}
	}
	return true
}

// emitLookupSegment emits segment si of the plan: filters, classes, one
// lookup per table keeping the smallest priority, then the dispatch of the
// winning rule. No hit falls through to the next segment.
func (g *gen) emitLookupSegment(p *optimizer.Plan, si int) error {
	b := g.b
	s := &p.Segments[si]
	end := fmt.Sprintf("seg_%d_end", si)
	b.comment("lookup segment %d: rules %d-%d, %d tables", si, s.First, s.End-1, len(s.Tables))
	b.emit(asm.StoreImm(asm.R10, stackBestPrio, -1, asm.Word))
	for fi := range s.Filters {
		if err := g.emitFilter(si, fi, &s.Filters[fi]); err != nil {
			return fmt.Errorf("segment %d filter %d: %w", si, fi, err)
		}
	}
	for pi := range s.Prechecks {
		if err := g.emitPrecheck(si, pi, &s.Prechecks[pi]); err != nil {
			return fmt.Errorf("segment %d precheck %d: %w", si, pi, err)
		}
	}
	for ci := range s.Classes {
		if err := g.emitClass(si, ci, &s.Classes[ci]); err != nil {
			return fmt.Errorf("segment %d class %d: %w", si, ci, err)
		}
	}
	for ti := range s.Tables {
		if err := g.emitTable(s, si, ti, &s.Tables[ti]); err != nil {
			return fmt.Errorf("segment %d table %d: %w", si, ti, err)
		}
	}
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackBestPrio, asm.Word),
		asm.JEq.Imm32(asm.R1, -1, end),
	)
	g.emitDispatch(p, s, end)
	b.label(end)
	return nil
}

// emitFilter looks the filter's address up and stores the table bitmap
// (0 when the address is absent or unknown).
func (g *gen) emitFilter(si, fi int, f *optimizer.Filter) error {
	b := g.b
	slot := int16(stackFilters + 4*fi)
	done := fmt.Sprintf("seg_%d_f_%d_done", si, fi)
	b.emit(asm.StoreImm(asm.R10, slot, 0, asm.Word))
	g.emitGuard(fieldGuard(f.Field, g.hook), done)
	w := f.Field.Width()
	size, pos := w, 0
	if f.LPM {
		size, pos = w+4, 4
	}
	key := keyOffset(size)
	if f.LPM {
		b.emit(asm.StoreImm(asm.R10, key, int64(8*w), asm.Word))
	}
	if err := g.emitKeyField(f.Field, key+int16(pos)); err != nil {
		return err
	}
	if f.Dir16 {
		g.emitDir16(si, fi, slot, key+int16(pos), done)
	}
	b.emit(mapLookup(filterMapName(si, fi), int32(key))...)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R10, slot, asm.R1, asm.Word),
	)
	b.label(done)
	return nil
}

// emitClass looks the field's value up in the class array and stores the
// class id (classAbsent when the field is absent).
func (g *gen) emitClass(si, ci int, c *optimizer.ClassMap) error {
	b := g.b
	slot := int16(stackClasses + 4*ci)
	done := fmt.Sprintf("seg_%d_c_%d_done", si, ci)
	b.emit(asm.StoreImm(asm.R10, slot, classAbsent, asm.Word))
	g.emitGuard(fieldGuard(c.Field, g.hook), done)
	w := c.Field.Width()
	if w > 2 {
		return fmt.Errorf("range class field %s is wider than 16 bits", c.Field)
	}
	rp, err := g.emitLoadField(c.Field, asm.R1)
	if err != nil {
		return err
	}
	g.toHost(asm.R1, rp, w)
	key := keyOffset(4)
	b.emit(
		asm.StoreMem(asm.R10, key, asm.R1, asm.Word),
	)
	b.emit(mapLookup(classMapName(si, ci), int32(key))...)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Half),
		asm.StoreMem(asm.R10, slot, asm.R1, asm.Word),
	)
	b.label(done)
	return nil
}

// emitTable builds the table's key, looks it up and keeps the hit if its
// priority is the smallest so far. A missing key field, a clear filter bit
// or a Const mismatch skips the table.
func (g *gen) emitTable(s *optimizer.Segment, si, ti int, t *optimizer.Table) error {
	b := g.b
	skip := fmt.Sprintf("seg_%d_t_%d_skip", si, ti)
	b.comment("segment %d table %d: %s, %d entries", si, ti, t.Kind, len(t.Entries))
	if t.Filter >= 0 {
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, int16(stackFilters+4*t.Filter), asm.Word),
			asm.And.Imm32(asm.R1, int32(uint32(1)<<uint(t.FilterBit))),
			asm.JEq.Imm(asm.R1, 0, skip),
		)
	}
	checks, bits := s.PrecheckRefs(ti)
	for i, pi := range checks {
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, int16(stackPrechecks+4*pi), asm.Word),
			asm.And.Imm32(asm.R1, int32(uint32(1)<<uint(bits[i]))),
			asm.JEq.Imm(asm.R1, 0, skip),
		)
	}
	if t.Kind == optimizer.TableAlways {
		if len(t.Entries) == 0 {
			return nil
		}
		v := t.Entries[0].Value
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, stackBestPrio, asm.Word),
			asm.Mov.Imm32(asm.R2, int32(v.Prio)),
			asm.JGE.Reg(asm.R2, asm.R1, skip),
			asm.StoreMem(asm.R10, stackBestPrio, asm.R2, asm.Word),
			asm.StoreImm(asm.R10, stackBestID, int64(int32(v.ID)), asm.Word),
		)
		b.label(skip)
		return nil
	}
	key := keyOffset(t.MapKeySize())
	base := key
	if t.Kind == optimizer.TableLPM {
		b.emit(asm.StoreImm(asm.R10, key, int64(8*t.KeySize), asm.Word))
		base += 4
	}
	for _, kp := range t.Key {
		if err := g.emitKeyPart(&kp, base+int16(kp.Offset), skip); err != nil {
			return err
		}
	}
	b.emit(mapLookup(tableMapName(si, ti), int32(key))...)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.LoadMem(asm.R2, asm.R10, stackBestPrio, asm.Word),
		asm.JGE.Reg(asm.R1, asm.R2, skip),
		asm.StoreMem(asm.R10, stackBestPrio, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.R10, stackBestID, asm.R1, asm.Word),
	)
	b.label(skip)
	return nil
}

// emitKeyPart writes one key part at stack offset dst: the class id, or
// the field's bytes (as ir.FieldValue reads them) ANDed with the mask. It
// jumps to skip when the field is absent or differs from the part's Const.
func (g *gen) emitKeyPart(kp *optimizer.KeyPart, dst int16, skip string) error {
	b := g.b
	if kp.Class >= 0 {
		if kp.Class >= maxSegClasses || kp.Width != optimizer.ClassWidth {
			return fmt.Errorf("class part %d is out of range", kp.Class)
		}
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, int16(stackClasses+4*kp.Class), asm.Word),
			asm.JEq.Imm32(asm.R1, classAbsent, skip),
		)
		if len(kp.Const) == 2 {
			b.emit(asm.JNE.Imm(asm.R1, int32(kp.Const[0])<<8|int32(kp.Const[1]), skip))
		}
		b.emit(
			asm.StoreMem(asm.R10, dst+1, asm.R1, asm.Byte),
			asm.RSh.Imm(asm.R1, 8),
			asm.StoreMem(asm.R10, dst, asm.R1, asm.Byte),
		)
		return nil
	}
	if kp.Width != kp.Field.Width() {
		return fmt.Errorf("key part %s has width %d, want %d", kp.Field, kp.Width, kp.Field.Width())
	}
	g.emitGuard(fieldGuard(kp.Field, g.hook), skip)
	if err := g.emitKeyField(kp.Field, dst); err != nil {
		return err
	}
	if kp.Mask != nil && !kp.Prefix {
		for i, m := range kp.Mask {
			switch m {
			case 0xff:
			case 0:
				b.emit(asm.StoreImm(asm.R10, dst+int16(i), 0, asm.Byte))
			default:
				b.emit(
					asm.LoadMem(asm.R1, asm.R10, dst+int16(i), asm.Byte),
					asm.And.Imm(asm.R1, int32(m)),
					asm.StoreMem(asm.R10, dst+int16(i), asm.R1, asm.Byte),
				)
			}
		}
	}
	for i, c := range kp.Const {
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, dst+int16(i), asm.Byte),
			asm.JNE.Imm(asm.R1, int32(c), skip),
		)
	}
	return nil
}

// emitDispatch runs the winning rule: counter slot = its ID, mark, verdict
// from its bf_actions entry.
func (g *gen) emitDispatch(p *optimizer.Plan, s *optimizer.Segment, end string) {
	b := g.b
	var marks, redirects bool
	for i := s.First; i < s.End; i++ {
		r := p.Chain.Rules[i]
		marks = marks || r.Mark != nil
		redirects = redirects || r.Verdict.Kind == ir.Redirect
	}
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackBestID, asm.Word),
		asm.StoreMem(asm.R10, stackScratch, asm.R1, asm.Word),
	)
	b.emit(mapLookup(ActionsMap, stackScratch)...)
	g.verboseCall("bpf_map_lookup_elem ("+ActionsMap+")", failNull)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, end),
	)
	if marks {
		nomark := b.fresh("dispatch_nomark")
		b.emit(
			asm.LoadMem(asm.R1, asm.R0, 4, asm.Word),
			asm.And.Imm(asm.R1, actionMark),
			asm.JEq.Imm(asm.R1, 0, nomark),
			asm.LoadMem(asm.R1, asm.R0, 8, asm.Word),
			asm.StoreMem(regCtx, skbMark, asm.R1, asm.Word),
		)
		b.label(nomark)
	}
	if redirects {
		b.emit(
			asm.LoadMem(asm.R1, asm.R0, 12, asm.Word),
			asm.StoreMem(asm.R10, stackRedirect, asm.R1, asm.Word),
		)
	}
	b.emit(asm.LoadMem(regL3, asm.R0, 0, asm.Word))
	if g.fl != ir.FlavourXDP && g.fl != ir.FlavourTC {
		// Netfilter and cgroup programs must return 0 or 1 (the
		// verifier checks the range); their codes are 0 or 1.
		b.emit(asm.And.Imm(regL3, 1))
	}
	b.emit(asm.LongJump(lblFinish))
}

// Budget of lookup segments: the kernel allows 64 maps per program
// (MAX_USED_MAPS); bf_counters, bf_log, bf_log_rate, bf_actions,
// bf_chunks, the verbose map, bf_limit (meta.limit), bf_addrtype and
// bf_addrtype6 (address types) and the set maps take some.
const (
	maxProgMaps = 64
	fixedMaps   = 9
	// minLookupRules is the smallest segment compiled as lookups: a few
	// compares are cheaper than a map lookup.
	minLookupRules = 4
)

// segmentMaps is the number of maps segment s needs.
func segmentMaps(s *optimizer.Segment) int {
	n := len(s.Filters) + len(s.Classes)
	for _, f := range s.Filters {
		if f.Dir16 {
			n++ // its bucket array
		}
	}
	n += len(s.Prechecks)
	for _, t := range s.Tables {
		if t.Kind != optimizer.TableAlways {
			n++
		}
	}
	return n
}

// chooseLookups picks the lookup segments compiled as lookups, largest
// first, within the map budget; the others are compiled linearly (always
// correct, only slower). It returns first rule → segment index.
func chooseLookups(p *optimizer.Plan, sets int) map[int]int {
	if p.Chain.Hook.IsSockAddr() {
		// cgroup sock_addr programs fill the header buffers from the
		// socket address; lookups there are not covered by the kernel
		// property test yet, so they stay linear.
		return map[int]int{}
	}
	var cand []int
	for si := range p.Segments {
		s := &p.Segments[si]
		if s.End-s.First >= minLookupRules && lookupSupported(s, si) {
			cand = append(cand, si)
		}
	}
	sort.SliceStable(cand, func(a, b int) bool {
		sa, sb := &p.Segments[cand[a]], &p.Segments[cand[b]]
		return sa.End-sa.First > sb.End-sb.First
	})
	budget := maxProgMaps - fixedMaps - sets
	out := map[int]int{}
	for _, si := range cand {
		if n := segmentMaps(&p.Segments[si]); n <= budget {
			budget -= n
			out[p.Segments[si].First] = si
		}
	}
	return out
}
