package optimizer

import "slices"

// diffPrechecks lists the slots whose bitmap changed, in slot order; nil
// when no table of the precheck changed (shared entries). A slot's bit
// can only change where a changed table gained or lost an entry, so only
// the slots of those entries are recomputed, from the tables' entries (no
// whole-array comparison: TestDiffPrechecksMatchesArrays).
func diffPrechecks(os, ns *Segment, pi int) []BucketUpdate {
	pc := &ns.Prechecks[pi]
	var cand []uint32
	for _, ti := range pc.Tables {
		ot, nt := &os.Tables[ti], &ns.Tables[ti]
		if sameBacking(ot.Entries, nt.Entries) {
			continue
		}
		okp, nkp := precheckPart(ot, pc.Field), precheckPart(nt, pc.Field)
		put, del := diffEntries(ot.Entries, nt.Entries)
		for _, e := range put {
			if nkp != nil {
				cand = append(cand, PrecheckIndex(e.Key[nkp.Offset:nkp.Offset+nkp.Width]))
			}
		}
		for _, e := range del {
			if okp != nil {
				cand = append(cand, PrecheckIndex(e.Key[okp.Offset:okp.Offset+okp.Width]))
			}
		}
		if (okp == nil) != (nkp == nil) {
			// The table joins or leaves the precheck's field: every
			// slot of its entries may change.
			for _, e := range ot.Entries {
				if okp != nil {
					cand = append(cand, PrecheckIndex(e.Key[okp.Offset:okp.Offset+okp.Width]))
				}
			}
			for _, e := range nt.Entries {
				if nkp != nil {
					cand = append(cand, PrecheckIndex(e.Key[nkp.Offset:nkp.Offset+nkp.Width]))
				}
			}
		}
	}
	if len(cand) == 0 {
		return nil
	}
	slices.Sort(cand)
	cand = slices.Compact(cand)
	oldBits := precheckSlots(os, &os.Prechecks[pi], cand)
	newBits := precheckSlots(ns, pc, cand)
	var u []BucketUpdate
	for k, v := range cand {
		if oldBits[k] != newBits[k] {
			u = append(u, BucketUpdate{Bucket: v, Value: newBits[k]})
		}
	}
	return u
}

// precheckSlots returns the bitmaps (as Precheck.Array) of the sorted
// slots of precheck pc in segment s.
func precheckSlots(s *Segment, pc *Precheck, slots []uint32) []uint32 {
	out := make([]uint32, len(slots))
	var in [1 << 16 / 64]uint64 // slots of interest
	for _, v := range slots {
		in[v/64] |= 1 << (v % 64)
	}
	for bit, ti := range pc.Tables {
		t := &s.Tables[ti]
		kp := precheckPart(t, pc.Field)
		if kp == nil {
			continue
		}
		for i := range t.Entries {
			v := PrecheckIndex(t.Entries[i].Key[kp.Offset : kp.Offset+kp.Width])
			if in[v/64]&(1<<(v%64)) == 0 {
				continue
			}
			k, _ := slices.BinarySearch(slots, v)
			out[k] |= 1 << bit
		}
	}
	return out
}
