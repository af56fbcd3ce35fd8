package optimizer

import (
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// buildClasses computes the elementary intervals of every range field of a
// lookup segment, in field order.
func buildClasses(srs []*shapeRule, first, end int) []ClassMap {
	bounds := map[ir.Field]map[uint32]bool{}
	for i := first; i < end; i++ {
		comps := srs[i].comps
		for ci := range comps {
			cp := &comps[ci]
			if cp.kind != compClass {
				continue
			}
			b := bounds[cp.field]
			if b == nil {
				b = map[uint32]bool{0: true}
				bounds[cp.field] = b
			}
			b[cp.lo] = true
			if max := uint32(1)<<(8*cp.field.Width()) - 1; cp.hi < max {
				b[cp.hi+1] = true
			}
		}
	}
	fields := make([]ir.Field, 0, len(bounds))
	for f := range bounds {
		fields = append(fields, f)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i] < fields[j] })
	out := make([]ClassMap, len(fields))
	for i, f := range fields {
		starts := make([]uint32, 0, len(bounds[f]))
		for v := range bounds[f] {
			starts = append(starts, v)
		}
		sort.Slice(starts, func(a, b int) bool { return starts[a] < starts[b] })
		out[i] = ClassMap{Field: f, Starts: starts}
	}
	return out
}

// classIndex returns the index of f's class map.
func classIndex(cms []ClassMap, f ir.Field) int {
	for i := range cms {
		if cms[i].Field == f {
			return i
		}
	}
	return -1
}

// coveredClasses lists the classes of cm inside [lo, hi].
func coveredClasses(cm *ClassMap, lo, hi uint32) []uint16 {
	i := sort.Search(len(cm.Starts), func(i int) bool { return cm.Starts[i] >= lo })
	var out []uint16
	for ; i < len(cm.Starts) && cm.Starts[i] <= hi; i++ {
		out = append(out, uint16(i))
	}
	return out
}

// checkReplication lists the rules of the lookup segments whose ranges
// cover more than max classes in total product (they must go linear), and
// returns the class maps of every lookup segment of segs (buildClasses:
// they are the segments' class maps when no rule is listed). kb, when not
// nil, tells the rules known to be within the budget (replication.go).
func checkReplication(srs []*shapeRule, segs []Segment, max int, kb *knownBudget) (over []int, classes [][]ClassMap) {
	classes = make([][]ClassMap, len(segs))
	for si, s := range segs {
		if s.Kind != SegLookup {
			continue
		}
		cms := buildClasses(srs, s.First, s.End)
		classes[si] = cms
		if len(cms) == 0 {
			continue
		}
		kb.segment(cms)
		for i := s.First; i < s.End; i++ {
			if kb.within(i, srs[i]) {
				continue
			}
			n := 1
			for ci := range srs[i].comps {
				cp := &srs[i].comps[ci]
				if cp.kind == compClass {
					cm := &cms[classIndex(cms, cp.field)]
					n *= countClasses(cm, cp.lo, cp.hi)
					if n > max {
						break
					}
				}
			}
			if n > max {
				over = append(over, i)
			}
		}
	}
	return over, classes
}

// countClasses counts the classes of cm inside [lo, hi].
func countClasses(cm *ClassMap, lo, hi uint32) int {
	a := sort.Search(len(cm.Starts), func(i int) bool { return cm.Starts[i] >= lo })
	b := sort.Search(len(cm.Starts), func(i int) bool { return cm.Starts[i] > hi })
	return b - a
}
