package optimizer

import (
	"bytes"
	"fmt"
	"slices"

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

// fullMasks are shared all-ones masks by width (never modified).
var fullMasks = [17][]byte{}

func init() {
	for w := range fullMasks {
		fullMasks[w] = bytes.Repeat([]byte{0xff}, w)
	}
}

// fullMask returns an all-ones mask of w bytes (shared for w <= 16: do not
// modify it).
// ruleL4Proto returns the L4 protocol a rule requires by an exact
// meta.l4_proto or ip4.proto match (0: none).
func ruleL4Proto(r *ir.Rule) uint8 {
	for i := range r.Matches {
		m := &r.Matches[i]
		if m.Op == ir.OpEq && !m.Negate && (m.Field == ir.MetaL4Proto || m.Field == ir.IP4Proto) &&
			len(m.Value) == 1 && (m.Mask == nil || (len(m.Mask) == 1 && m.Mask[0] == 0xff)) {
			return m.Value[0]
		}
	}
	return 0
}

// canonPort maps tcp.* and udp.* ports to meta.sport/meta.dport when the
// rule already requires that protocol: the fields then read the same bytes
// under the same conditions, and TCP and UDP service rules share a table
// (the protocol is part of the key).
func canonPort(f ir.Field, l4 uint8) ir.Field {
	switch {
	case l4 == ir.ProtoTCP && f == ir.TCPSport, l4 == ir.ProtoUDP && f == ir.UDPSport:
		return ir.MetaSport
	case l4 == ir.ProtoTCP && f == ir.TCPDport, l4 == ir.ProtoUDP && f == ir.UDPDport:
		return ir.MetaDport
	}
	return f
}

func fullMask(w int) []byte {
	if w < len(fullMasks) {
		return fullMasks[w]
	}
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
	l4 := ruleL4Proto(r)
	for i := range r.Matches {
		m := &r.Matches[i]
		if m.Negate {
			return nil, "negated match"
		}
		if ir.ReadsConntrack(m.Field) {
			return nil, "match on " + m.Field.String() // read from the conntrack entry
		}
		if m.Field.Info().Compound {
			return nil, "match on " + m.Field.String() // not one compare of a loaded value
		}
		switch m.Op {
		case ir.OpEq:
			f := canonPort(canonField(m.Field), l4)
			if !keyField(m.Field) {
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
			if !keyField(m.Field) || w > 2 {
				return nil, "range on " + m.Field.String()
			}
			if len(m.Value) != w || len(m.High) != w || bytes.Compare(m.Value, m.High) > 0 {
				return nil, "malformed range"
			}
			lo, hi := uint32(ir.Uint(m.Value)), uint32(ir.Uint(m.High))
			// The replication budget is checked against the segment's
			// classes once segments are known (checkReplication).
			sr.comps = append(sr.comps, comp{field: canonPort(m.Field, l4), kind: compClass, lo: lo, hi: hi, setOff: -1})
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
				if !keyField(f) {
					return nil, "set key field " + f.String()
				}
				cf := canonPort(canonField(f), l4)
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
	slices.SortStableFunc(sr.comps, compareComps)
	// The shape is a binary encoding of (kind, field, mask) per component:
	// opaque, stable across builds, one allocation.
	shape := make([]byte, 0, 8*len(sr.comps))
	for i := range sr.comps {
		cp := &sr.comps[i]
		shape = append(shape, byte(cp.kind), byte(cp.field>>8), byte(cp.field))
		if cp.kind == compExact {
			shape = append(shape, byte(len(cp.mask)))
			shape = append(shape, cp.mask...)
		}
	}
	sr.shape = string(shape)
	return sr, ""
}

// compareComps orders a shape's components: exact and class components by
// field then mask, the prefix component last.
func compareComps(a, b comp) int {
	ka, kb := a.kind == compPrefix, b.kind == compPrefix
	switch {
	case ka != kb:
		if ka {
			return 1
		}
		return -1
	case a.field != b.field:
		return int(a.field) - int(b.field)
	case a.kind != b.kind:
		return int(a.kind) - int(b.kind)
	}
	return bytes.Compare(a.mask, b.mask)
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

// keyField reports whether matches on f can be table key parts: header
// fields (network and transport layer bytes, as ir.FieldValue reads them)
// and the metadata the backend loads as plain values. Everything else —
// probabilities, interface names, conntrack state, and any field added to
// the IR later (stateful matches such as rate limits included) — is an
// opaque filter: its rule stays linear, compiled by the matcher code that
// knows it.
func keyField(f ir.Field) bool {
	if !f.Valid() {
		return false
	}
	switch f.Info().Layer {
	case ir.LayerL3, ir.LayerL4:
		return true
	}
	switch f {
	case ir.MetaIface, ir.MetaL3Proto, ir.MetaL4Proto, ir.MetaSport, ir.MetaDport, ir.MetaMark, ir.MetaFlowHash:
		return true
	}
	return false
}
