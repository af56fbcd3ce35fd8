package daemon

import (
	"encoding/binary"
	"strings"

	compat "github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/ir"
)

// iptFamily checks an ipt.* request's family.
func iptFamily(f int) (abi.Family, error) {
	switch f {
	case 4:
		return abi.IPv4, nil
	case 6:
		return abi.IPv6, nil
	}
	return 0, errorf(proto.EINVAL, "ipt request: family %d (want 4 or 6)", f)
}

// iptNoTable is the answer for tables bpfilter does not implement: the
// kernel's ENOENT for a table that does not exist.
func iptNoTable(fam abi.Family, name string) error {
	return errorf(proto.ENOENT, "%s table %q does not exist in bpfilter (only the filter table is supported)", famTool(fam), name)
}

// IptReplace installs the filter table carried by an ipt_replace request
// (header and entries) for family fam, like IPT_SO_SET_REPLACE: the
// request is decoded with every check the kernel makes, the table is
// translated, and all of the family's chains are swapped in at once. It
// returns the replaced table's counters (one xt_counters per entry, the
// buffer the kernel fills at ipt_replace.counters). On any failure the
// tables and chains in force do not change.
func (s *State) IptReplace(fam abi.Family, req []byte, peer Peer, dryRun bool) ([]byte, error) {
	rep, _, err := abi.UnmarshalReplace(req)
	if err != nil {
		return nil, errorf(proto.EINVAL, "%s replace: %w", famTool(fam), err)
	}
	if rep.Name != "filter" {
		return nil, iptNoTable(fam, rep.Name)
	}
	nt, err := newIptTable(fam, req)
	if err != nil {
		return nil, errorf(proto.EINVAL, "%s replace: %w", famTool(fam), err)
	}
	if err := compat.CheckTable(fam, nt.table); err != nil {
		return nil, errorf(proto.EINVAL, "%s replace: %w", famTool(fam), err)
	}
	rs, err := s.iptTranslate(nt.table)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.iptCurrent(fam)
	if err != nil {
		return nil, err
	}
	if rep.NumCounters != uint32(len(cur.offsets)) {
		return nil, errorf(proto.EAGAIN, "%s replace: num_counters %d, the table has %d entries (it changed since it was read)", famTool(fam), rep.NumCounters, len(cur.offsets))
	}
	oldCounts, err := s.iptCounters(fam, cur)
	if err != nil {
		return nil, err
	}
	p, err := s.iptPlan(fam, rs, peer)
	if err != nil {
		return nil, err
	}
	p.ipt = s.ipt.with(fam, nt)
	if err := s.checkPlan(p); err != nil {
		return nil, err
	}
	if dryRun {
		return marshalCounters(oldCounts), nil
	}
	if err := s.apply(p); err != nil {
		return nil, err
	}
	return marshalCounters(oldCounts), nil
}

// iptPlan builds the plan installing rs as family fam's chains: builtin
// chains take over their attachment in place, carrying the user chains
// they jump to (inlined by the backend), and chains of the family that rs
// no longer has are removed. New programs start with zero counters
// (iptLoader), as a replaced kernel table does. s.mu must be held.
func (s *State) iptPlan(fam abi.Family, rs *ir.Ruleset, peer Peer) (*plan, error) {
	p := &plan{front: proto.FrontIptables, via: peer}
	var users []*ir.Chain
	for _, c := range rs.Chains {
		if c.User {
			users = append(users, c)
		}
	}
	keep := map[string]bool{}
	for _, c := range rs.Chains {
		if c.User {
			// User chains run inside the builtin chains' programs.
			continue
		}
		keep[c.Name] = true
		old := s.chains[c.Name]
		var e *entry
		var err error
		if old != nil && old.Attached && old.Front == proto.FrontIptables {
			e, err = successor(old, c)
		} else {
			e, err = s.prepareIpt(c, peer)
		}
		if err != nil {
			return nil, err
		}
		e.Users = users
		p.add = append(p.add, e)
	}
	prefix := iptPrefix(fam)
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		if e.Front == proto.FrontIptables && strings.HasPrefix(n, prefix) && !keep[n] {
			p.remove = append(p.remove, n)
		}
	}
	return p, nil
}

// prepareIpt is prepare for an iptables builtin chain, whose JUMP and GOTO
// rules reach the user chains loaded with it.
func (s *State) prepareIpt(c *ir.Chain, peer Peer) (*entry, error) {
	c = c.Clone()
	if err := c.Validate(); err != nil {
		return nil, errorf(proto.EINVAL, "%w", err)
	}
	e := &entry{Front: proto.FrontIptables, Chain: c}
	if err := s.resolveAttach(e, peer); err != nil {
		return nil, err
	}
	return e, nil
}

func marshalCounters(cs []abi.Counters) []byte {
	b := abi.MarshalCountersInfo("", cs)
	return b[abi.CountersInfoHeaderSize:]
}

// IptGetInfo answers IPT_SO_GET_INFO: req is an ipt_getinfo buffer naming
// the table; the answer is the same buffer filled in.
func (s *State) IptGetInfo(fam abi.Family, req []byte) ([]byte, error) {
	in, err := abi.UnmarshalInfo(req)
	if err != nil {
		return nil, errorf(proto.EINVAL, "%s get info: %w", famTool(fam), err)
	}
	if in.Name != "filter" {
		return nil, iptNoTable(fam, in.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.iptCurrent(fam)
	if err != nil {
		return nil, err
	}
	info := t.info()
	return info.Marshal(), nil
}

// IptGetEntries answers IPT_SO_GET_ENTRIES: req is an ipt_get_entries
// header naming the table and the size of its entries (as get info gave
// it); the answer is the header followed by the entries, with every
// entry's counters (BPF counters plus added counters).
func (s *State) IptGetEntries(fam abi.Family, req []byte) ([]byte, error) {
	if len(req) < abi.GetEntriesHeaderSize {
		return nil, errorf(proto.EINVAL, "%s get entries: %d bytes, want at least %d", famTool(fam), len(req), abi.GetEntriesHeaderSize)
	}
	name := cstring(req[:abi.TableNameLen])
	size := binary.NativeEndian.Uint32(req[abi.TableNameLen:])
	if name != "filter" {
		return nil, iptNoTable(fam, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.iptCurrent(fam)
	if err != nil {
		return nil, err
	}
	if size != t.rep.Size {
		return nil, errorf(proto.EAGAIN, "%s get entries: size %d, the table has %d bytes (it changed since get info)", famTool(fam), size, t.rep.Size)
	}
	cnt, err := s.iptCounters(fam, t)
	if err != nil {
		return nil, err
	}
	out := abi.MarshalGetEntriesRequest("filter", t.rep.Size)
	copy(out[abi.GetEntriesHeaderSize:], t.entriesWith(cnt))
	return out, nil
}

// IptAddCounters answers IPT_SO_SET_ADD_COUNTERS: req is an
// xt_counters_info with one counter pair per entry, added to the table's.
func (s *State) IptAddCounters(fam abi.Family, req []byte) error {
	name, cs, err := abi.UnmarshalCountersInfo(req)
	if err != nil {
		return errorf(proto.EINVAL, "%s add counters: %w", famTool(fam), err)
	}
	if name != "filter" {
		return iptNoTable(fam, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.iptCurrent(fam)
	if err != nil {
		return err
	}
	if len(cs) != len(cur.offsets) {
		return errorf(proto.EINVAL, "%s add counters: %d counters for a table of %d entries", famTool(fam), len(cs), len(cur.offsets))
	}
	nt := *cur
	nt.Base = make([]abi.Counters, len(cur.Base))
	for i := range nt.Base {
		nt.Base[i] = abi.Counters{Packets: cur.Base[i].Packets + cs[i].Packets, Bytes: cur.Base[i].Bytes + cs[i].Bytes}
	}
	next := s.ipt.with(fam, &nt)
	prev := s.ipt
	s.ipt = next
	if err := s.save(nil); err != nil {
		s.ipt = prev
		return errorf(proto.EIO, "%s add counters: %w", famTool(fam), err)
	}
	return nil
}

// IptRevision answers IPT_SO_GET_REVISION_MATCH/_TARGET: req is an
// xt_get_revision (name, revision). It returns the best revision bpfilter
// decodes and translates for the extension; ENOENT when it has none, or
// EPROTONOSUPPORT-like EOPNOTSUPP when the asked revision is above it.
func IptRevision(fam abi.Family, target bool, req []byte) (int, error) {
	if len(req) < abi.RevisionRequestSize {
		return 0, errorf(proto.EINVAL, "%s revision query: %d bytes, want %d", famTool(fam), len(req), abi.RevisionRequestSize)
	}
	name := cstring(req[:abi.ExtNameLen])
	rev := int(req[abi.ExtNameLen])
	best, ok := iptBestRevision(fam, target, name)
	if !ok {
		return 0, errorf(proto.ENOENT, "%s: no %s extension %q in bpfilter", famTool(fam), kindName(target), name)
	}
	if rev > best {
		return best, errorf(proto.EOPNOTSUPP, "%s: %s %q revision %d is not supported (best: %d)", famTool(fam), kindName(target), name, rev, best)
	}
	return best, nil
}

func kindName(target bool) string {
	if target {
		return "target"
	}
	return "match"
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
