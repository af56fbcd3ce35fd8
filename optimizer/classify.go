package optimizer

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// compKind is the kind of a rule's key component.
type compKind uint8

const (
	compExact  compKind = iota // (field & mask) == value
	compClass                  // class id of the field value
	compPrefix                 // variable-length prefix (LPM), at most one
)

// comp is one key component of a classified rule.
type comp struct {
	field ir.Field
	kind  compKind
	// mask is the full-width mask of an exact component.
	mask []byte
	// value and plen: an eq match (plen: prefix bits of a prefix comp).
	value []byte
	plen  int
	// lo, hi: a range.
	lo, hi uint32
	// setOff >= 0: the value comes from the set element at this offset.
	setOff int
	// sortKey orders components and names them in the shape.
	sortKey string
}

// shapeRule is a classifiable rule broken into components.
type shapeRule struct {
	comps []comp
	// set is the rule's set (nil: none); elements give the values of the
	// components with setOff >= 0.
	set *ir.Set
	// shape is the table's shape key: the components' sort keys.
	shape string
	// dead is set when the rule can never match (a value with bits outside
	// its mask).
	dead bool
}

// canonField maps address fields to their prefix twin: ip4.saddr and
// ip4.snet read the same bytes, so rules using either share a shape.
func canonField(f ir.Field) ir.Field {
	switch f {
	case ir.IP4Saddr:
		return ir.IP4Snet
	case ir.IP4Daddr:
		return ir.IP4Dnet
	case ir.IP6Saddr:
		return ir.IP6Snet
	case ir.IP6Daddr:
		return ir.IP6Dnet
	}
	return f
}

func fullMask(w int) []byte {
	m := make([]byte, w)
	for i := range m {
		m[i] = 0xff
	}
	return m
}

// classify decides whether rule r of chain c can live in a lookup table and
// breaks it into components. why explains a refusal.
func classify(c *ir.Chain, r *ir.Rule) (sr *shapeRule, why string) {
	switch {
	case r.Log != nil:
		return nil, "log action"
	case r.Verdict.Kind != ir.Accept && r.Verdict.Kind != ir.Drop && r.Verdict.Kind != ir.Next && r.Verdict.Kind != ir.Redirect:
		return nil, "verdict " + r.Verdict.Kind.String()
	}
	sr = &shapeRule{}
	var prefixCands []int
	for i := range r.Matches {
		m := &r.Matches[i]
		if m.Negate {
			return nil, "negated match"
		}
		switch m.Op {
		case ir.OpEq:
			f := canonField(m.Field)
			if !m.Field.Valid() || m.Field == ir.MetaProbability || m.Field == ir.MetaFlowProbability {
				return nil, "match on " + m.Field.String()
			}
			w := m.Field.Width()
			if len(m.Value) != w || (m.Mask != nil && len(m.Mask) != w) {
				return nil, "malformed value"
			}
			mask := m.Mask
			if mask == nil {
				mask = fullMask(w)
			}
			if !bytes.Equal(and(m.Value, mask), m.Value) {
				sr.dead = true
			}
			cp := comp{field: f, kind: compExact, mask: mask, value: m.Value, setOff: -1}
			if f.Info().Kind.IsPrefix() && ir.PrefixLen(mask) >= 0 {
				cp.plen = ir.PrefixLen(mask)
				prefixCands = append(prefixCands, len(sr.comps))
			}
			sr.comps = append(sr.comps, cp)
		case ir.OpRange:
			w := m.Field.Width()
			if !m.Field.Valid() || w > 2 {
				return nil, "range on " + m.Field.String()
			}
			if len(m.Value) != w || len(m.High) != w || bytes.Compare(m.Value, m.High) > 0 {
				return nil, "malformed range"
			}
			lo, hi := uint32(ir.Uint(m.Value)), uint32(ir.Uint(m.High))
			// The replication budget is checked against the segment's
			// classes once segments are known (checkReplication).
			sr.comps = append(sr.comps, comp{field: m.Field, kind: compClass, lo: lo, hi: hi, setOff: -1})
		case ir.OpIn:
			if sr.set != nil {
				return nil, "more than one set match"
			}
			s := c.Set(m.Set)
			if s == nil {
				return nil, fmt.Sprintf("unknown set %q", m.Set)
			}
			w := s.KeyWidth()
			for _, e := range s.Elems {
				if len(e.Key) != w {
					return nil, "malformed set element"
				}
			}
			sr.set = s
			off := 0
			for _, f := range s.Key {
				if !f.Valid() {
					return nil, "invalid set key field"
				}
				cf := canonField(f)
				kind := compExact
				if s.IsLPM() {
					kind = compPrefix
				}
				sr.comps = append(sr.comps, comp{field: cf, kind: kind, mask: fullMask(f.Width()), setOff: off})
				off += f.Width()
			}
		default:
			return nil, "operator " + m.Op.String()
		}
	}
	// The variable-length prefix: an LPM set's field, else the first
	// prefix-masked address match.
	if sr.set == nil || !sr.set.IsLPM() {
		if len(prefixCands) > 0 {
			best := prefixCands[0]
			for _, i := range prefixCands[1:] {
				if compLess(&sr.comps[i], &sr.comps[best]) {
					best = i
				}
			}
			sr.comps[best].kind = compPrefix
		}
	}
	for i := range sr.comps {
		cp := &sr.comps[i]
		switch cp.kind {
		case compExact:
			cp.sortKey = cp.field.String() + "&" + hex.EncodeToString(cp.mask)
		case compClass:
			cp.sortKey = cp.field.String() + "@class"
		case compPrefix:
			cp.sortKey = "~" + cp.field.String() + "/lpm"
		}
	}
	slices.SortStableFunc(sr.comps, func(a, b comp) int { return strings.Compare(a.sortKey, b.sortKey) })
	keys := make([]string, len(sr.comps))
	for i := range sr.comps {
		keys[i] = sr.comps[i].sortKey
	}
	sr.shape = strings.Join(keys, ",")
	return sr, ""
}

// compLess orders prefix candidates: field, then mask.
func compLess(a, b *comp) bool {
	if a.field != b.field {
		return a.field < b.field
	}
	return bytes.Compare(a.mask, b.mask) < 0
}

func and(v, mask []byte) []byte {
	out := make([]byte, len(v))
	for i := range v {
		out[i] = v[i] & mask[i]
	}
	return out
}
