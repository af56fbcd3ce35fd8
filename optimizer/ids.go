package optimizer

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bpfilter-go/bpfilter/ir"
)

// prioGap is the distance between the priorities of consecutive rules in a
// fresh numbering, leaving room to insert rules without renumbering.
const prioGap = 1024

// fingerprint identifies a rule's content across builds: matches (with set
// names, not set contents), actions and verdict; not its origin. It is a
// binary encoding with length-prefixed byte strings, so distinct rules
// never collide.
func fingerprint(r *ir.Rule) string {
	b := make([]byte, 0, 64)
	bs := func(v []byte) []byte {
		if v == nil {
			return append(b, 0xff)
		}
		b = append(b, byte(len(v)))
		return append(b, v...)
	}
	for _, m := range r.Matches {
		b = binary.BigEndian.AppendUint16(b, uint16(m.Field))
		neg := byte(0)
		if m.Negate {
			neg = 1
		}
		b = append(b, byte(m.Op), neg)
		b = bs(m.Value)
		b = bs(m.Mask)
		b = bs(m.High)
		b = binary.BigEndian.AppendUint16(b, uint16(len(m.Set)))
		b = append(b, m.Set...)
	}
	b = append(b, 0xfe)
	if r.Counter {
		b = append(b, 'c')
	}
	if r.Log != nil {
		b = append(b, 'l', byte(r.Log.Headers))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Log.Every))
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Log.Prefix)))
		b = append(b, r.Log.Prefix...)
	}
	if r.Mark != nil {
		b = append(b, 'm')
		b = binary.BigEndian.AppendUint32(b, *r.Mark)
	}
	b = append(b, 'v', byte(r.Verdict.Kind), byte(r.Verdict.Dir))
	b = binary.BigEndian.AppendUint32(b, r.Verdict.Ifindex)
	b = append(b, r.Verdict.Chain...)
	return string(b)
}

// assignIDs gives every rule a stable ID and a priority. Without a previous
// plan, ID = rule index and priorities are evenly spaced. With one, rules
// are matched to the previous rules of the same content, in order (common
// prefix and suffix, then a monotone greedy match of the middle); matched
// rules keep ID and priority, new rules take freed IDs (lowest first) or
// new ones, and priorities between their neighbours'. It returns the IDs
// that are new (their counters must start at zero) and the ID capacity.
func assignIDs(fps []string, prev *Plan, headroom int) (infos []RuleInfo, fresh []uint32, idCap uint32, err error) {
	a, err := assignIDsMatch(fps, prev, headroom)
	return a.infos, a.fresh, a.idCap, err
}

// idAssignment is the result of assignIDsMatch.
type idAssignment struct {
	infos []RuleInfo
	fresh []uint32
	idCap uint32
	// match maps every rule to the previous rule whose identity it keeps
	// (-1: new; nil without a previous plan).
	match []int
	// renumbered is set when every priority changed (no gap was left).
	renumbered bool
}

// assignIDsMatch is assignIDs, also returning the rule matching and
// whether priorities were renumbered (incremental builds need both).
func assignIDsMatch(fps []string, prev *Plan, headroom int) (a idAssignment, err error) {
	infos, fresh, idCap, match, renumbered, err := assignIDsFull(fps, prev, headroom)
	return idAssignment{infos, fresh, idCap, match, renumbered}, err
}

func assignIDsFull(fps []string, prev *Plan, headroom int) (infos []RuleInfo, fresh []uint32, idCap uint32, match []int, renumbered bool, err error) {
	n := len(fps)
	infos = make([]RuleInfo, n)
	if uint64(n)+1 >= math.MaxUint32 {
		return nil, nil, 0, nil, false, fmt.Errorf("%d rules is more than the optimiser can number", n)
	}
	if prev == nil {
		numberFresh(infos)
		if headroom < 0 || uint64(n)+uint64(headroom)+2 >= math.MaxUint32 {
			headroom = 0
		}
		return infos, nil, uint32(n + headroom), nil, false, nil
	}
	match = matchRules(prev.fingerprints, fps)
	used := make([]bool, prev.IDCap)
	for i, j := range match {
		if j >= 0 {
			infos[i].ID, infos[i].Prio = prev.Rules[j].ID, prev.Rules[j].Prio
			if infos[i].ID < prev.IDCap {
				used[infos[i].ID] = true
			}
		}
	}
	var free []uint32
	for id := uint32(0); id < prev.IDCap; id++ {
		if !used[id] {
			free = append(free, id)
		}
	}
	next := prev.IDCap
	idCap = prev.IDCap
	for i, j := range match {
		if j >= 0 {
			continue
		}
		if len(free) > 0 {
			infos[i].ID, free = free[0], free[1:]
		} else {
			infos[i].ID = next
			next++
		}
		fresh = append(fresh, infos[i].ID)
		if infos[i].ID >= idCap {
			idCap = infos[i].ID + 1
		}
	}
	if !placePrios(infos, match) {
		// No room between neighbours: renumber the priorities (every
		// lookup entry changes, the IDs and counters stay).
		g := gapFor(n)
		for i := range infos {
			infos[i].Prio = uint32(i+1) * g
		}
		renumbered = true
	}
	return infos, fresh, idCap, match, renumbered, nil
}

func gapFor(n int) uint32 {
	g := uint64(math.MaxUint32) / uint64(n+1)
	if g > prioGap {
		g = prioGap
	}
	return uint32(g)
}

// numberFresh sets ID = index and evenly spaced priorities.
func numberFresh(infos []RuleInfo) {
	g := gapFor(len(infos))
	for i := range infos {
		infos[i].ID = uint32(i)
		infos[i].Prio = uint32(i+1) * g
	}
}

// placePrios gives the unmatched rules priorities strictly between their
// matched neighbours'; false when a gap is too small.
func placePrios(infos []RuleInfo, match []int) bool {
	n := len(infos)
	for i := 0; i < n; {
		if match[i] >= 0 {
			i++
			continue
		}
		j := i
		for j < n && match[j] < 0 {
			j++
		}
		lo := uint64(0)
		if i > 0 {
			lo = uint64(infos[i-1].Prio)
		}
		k := uint64(j - i)
		var step uint64
		if j < n {
			hi := uint64(infos[j].Prio)
			if hi <= lo || (hi-lo-1) < k {
				return false
			}
			step = (hi - lo) / (k + 1)
		} else {
			step = prioGap
			if lo+step*k > math.MaxUint32 {
				step = (math.MaxUint32 - lo) / (k + 1)
				if step == 0 {
					return false
				}
			}
		}
		for x := uint64(0); x < k; x++ {
			infos[i+int(x)].Prio = uint32(lo + step*(x+1))
		}
		i = j
	}
	return true
}

// matchRules maps every new rule to the index of the previous rule it keeps
// the identity of (-1: a new rule). The matching is monotone.
func matchRules(old, cur []string) []int {
	match := make([]int, len(cur))
	for i := range match {
		match[i] = -1
	}
	p := 0
	for p < len(old) && p < len(cur) && old[p] == cur[p] {
		match[p] = p
		p++
	}
	s := 0
	for s < len(old)-p && s < len(cur)-p && old[len(old)-1-s] == cur[len(cur)-1-s] {
		match[len(cur)-1-s] = len(old) - 1 - s
		s++
	}
	pos := map[string][]int{}
	for j := p; j < len(old)-s; j++ {
		pos[old[j]] = append(pos[old[j]], j)
	}
	last := p - 1
	for i := p; i < len(cur)-s; i++ {
		q := pos[cur[i]]
		for len(q) > 0 && q[0] <= last {
			q = q[1:]
		}
		if len(q) > 0 {
			match[i] = q[0]
			last = q[0]
			q = q[1:]
		}
		pos[cur[i]] = q
	}
	return match
}

// FreshIdentity reports whether every rule has the ID and priority a build
// without Previous would give it (ID = index, evenly spaced priorities)
// and no table was kept only because an earlier plan had it: then
// compiling the chain again gives this plan's maps and counter slots
// (capacities and table kinds aside, which the caller compares with the
// loaded maps). An incremental build after insertions or deletions
// usually does not.
func (p *Plan) FreshIdentity() bool {
	g := gapFor(len(p.Rules))
	for i, ri := range p.Rules {
		if ri.ID != uint32(i) || ri.Prio != uint32(i+1)*g {
			return false
		}
	}
	for _, s := range p.Segments {
		for _, t := range s.Tables {
			if t.nrules == 0 {
				return false
			}
		}
	}
	return true
}
