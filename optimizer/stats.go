package optimizer

import (
	"fmt"
	"strings"
)

// Stats summarises a plan: what strategy was picked and what it costs.
type Stats struct {
	Rules           int
	LinearRules     int
	ClassifiedRules int
	LinearSegments  int
	LookupSegments  int
	// Tables counts map-backed tables by kind (inline and constant tables
	// excepted).
	HashTables int
	LPMTables  int
	// InlineTables are compiled as compares; AlwaysTables are constants.
	InlineTables int
	AlwaysTables int
	// ClassMaps counts range-class arrays; Filters address prefilters.
	ClassMaps int
	Filters   int
	// Entries counts map entries over every table.
	Entries int
	// MaxLookups is the worst-case number of map lookups per packet
	// (tables and class arrays of every lookup segment).
	MaxLookups int
}

// Tables is the number of map-backed tables.
func (s Stats) Tables() int { return s.HashTables + s.LPMTables }

func computeStats(p *Plan) Stats {
	st := Stats{Rules: len(p.Rules)}
	for _, s := range p.Segments {
		if s.Kind == SegLinear {
			st.LinearSegments++
			st.LinearRules += s.End - s.First
			continue
		}
		st.LookupSegments++
		st.ClassifiedRules += s.End - s.First
		st.ClassMaps += len(s.Classes)
		st.MaxLookups += len(s.Classes) + len(s.Filters)
		st.Filters += len(s.Filters)
		for _, t := range s.Tables {
			st.Entries += len(t.Entries)
			switch {
			case t.Kind == TableAlways:
				st.AlwaysTables++
			case t.Inline:
				st.InlineTables++
			case t.Kind == TableLPM:
				st.LPMTables++
				st.MaxLookups++
			default:
				st.HashTables++
				st.MaxLookups++
			}
		}
	}
	return st
}

// Strategy describes the plan in one line per segment, e.g.
// "lookup[0,10000) hash(ip4.snet&ffffffff)×10000" (tests, --verbose).
func (p *Plan) Strategy() string {
	var b strings.Builder
	for _, s := range p.Segments {
		fmt.Fprintf(&b, "%s[%d,%d)", s.Kind, s.First, s.End)
		for _, c := range s.Classes {
			fmt.Fprintf(&b, " class(%s)×%d", c.Field, len(c.Starts))
		}
		for _, f := range s.Filters {
			fmt.Fprintf(&b, " filter(%s→%v)×%d", f.Field, f.Tables, len(f.Entries))
		}
		for _, t := range s.Tables {
			kind := t.Kind.String()
			if t.Inline {
				kind = "inline-" + kind
			}
			fmt.Fprintf(&b, " %s(%s)×%d", kind, layoutString(&t), len(t.Entries))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// String prints the stats on one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d rules (%d classified, %d linear), %d lookup + %d linear segments, %d hash + %d lpm tables, %d inline, %d always, %d class maps, %d filters, %d entries, ≤%d lookups/packet",
		s.Rules, s.ClassifiedRules, s.LinearRules, s.LookupSegments, s.LinearSegments, s.HashTables, s.LPMTables,
		s.InlineTables, s.AlwaysTables, s.ClassMaps, s.Filters, s.Entries, s.MaxLookups)
}

// layoutString prints a key layout: "field&mask", "field@class",
// "field/lpm", comma-separated.
func layoutString(t *Table) string {
	parts := make([]string, len(t.Key))
	for i, kp := range t.Key {
		switch {
		case kp.Class >= 0:
			parts[i] = kp.Field.String() + "@class"
		case kp.Prefix:
			parts[i] = kp.Field.String() + "/lpm"
		default:
			parts[i] = fmt.Sprintf("%s&%x", kp.Field, kp.Mask)
		}
	}
	return strings.Join(parts, ",")
}
