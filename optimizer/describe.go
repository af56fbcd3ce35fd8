package optimizer

import (
	"fmt"
	"io"
)

// Describe writes the plan in detail: segments, class maps, table key
// layouts and up to maxEntries entries per table (negative: all). It is
// what --verbose prints and what the golden tests record.
func (p *Plan) Describe(w io.Writer, maxEntries int) error {
	ew := &errWriter{w: w}
	ew.printf("chain %s: %s\n", p.Chain.Name, p.Stats)
	ew.printf("counter slots: %d rules, policy %d, errors %d\n", p.IDCap, p.IDCap, p.IDCap+1)
	for si, s := range p.Segments {
		ew.printf("segment %d: %s rules [%d,%d)\n", si, s.Kind, s.First, s.End)
		if s.Kind == SegLinear {
			for i := s.First; i < s.End; i++ {
				ew.printf("  rule %d id %d: %s\n", i, p.Rules[i].ID, p.Rules[i].Why)
			}
			continue
		}
		for ci, c := range s.Classes {
			ew.printf("  class map %d: %s, %d classes, starts %v\n", ci, c.Field, len(c.Starts), c.Starts)
		}
		for fi, f := range s.Filters {
			kind := "hash"
			if f.LPM {
				kind = "lpm"
			}
			if f.Dir16 {
				kind += "+dir16"
			}
			ew.printf("  filter %d: %s %s over tables %v, %d entries, capacity %d\n", fi, kind, f.Field, f.Tables, len(f.Entries), f.Capacity)
			for ei, e := range f.Entries {
				if maxEntries >= 0 && ei >= maxEntries {
					ew.printf("    ... %d more\n", len(f.Entries)-ei)
					break
				}
				ew.printf("    %x/%d -> %032b\n", e.Key, e.PrefixLen, e.Bits)
			}
		}
		for pi, pc := range s.Prechecks {
			ew.printf("  precheck %d: %s over tables %v\n", pi, pc.Field, pc.Tables)
		}
		for ti, t := range s.Tables {
			inline := ""
			if t.Inline {
				inline = " inline"
			}
			filter := ""
			if t.Filter >= 0 {
				filter = fmt.Sprintf(", filter %d bit %d", t.Filter, t.FilterBit)
			}
			ew.printf("  table %d: %s%s, key %d bytes, %d entries, capacity %d%s\n", ti, t.Kind, inline, t.KeySize, len(t.Entries), t.Capacity, filter)
			for _, kp := range t.Key {
				switch {
				case kp.Class >= 0:
					ew.printf("    [%d:%d] %s class (map %d)\n", kp.Offset, kp.Offset+kp.Width, kp.Field, kp.Class)
				case kp.Prefix:
					ew.printf("    [%d:%d] %s prefix\n", kp.Offset, kp.Offset+kp.Width, kp.Field)
				default:
					ew.printf("    [%d:%d] %s & %x\n", kp.Offset, kp.Offset+kp.Width, kp.Field, kp.Mask)
				}
				if kp.Const != nil {
					ew.printf("      const %x\n", kp.Const)
				}
			}
			for ei, e := range t.Entries {
				if maxEntries >= 0 && ei >= maxEntries {
					ew.printf("    ... %d more\n", len(t.Entries)-ei)
					break
				}
				rule, _ := p.RuleByID(e.Value.ID)
				ew.printf("    %x/%d -> prio %d id %d (rule %d)\n", e.Key, e.PrefixLen, e.Value.Prio, e.Value.ID, rule)
			}
		}
	}
	return ew.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
