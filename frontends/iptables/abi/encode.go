package abi

import "fmt"

// Encode lays the table out exactly as libiptc (iptables-legacy) does: for
// each chain in order, a user chain's ERROR head entry naming it, the
// chain's rules, then the builtin chain's policy entry (its underflow) or
// the user chain's RETURN entry; finally the ERROR entry named "ERROR".
// Jumps point at the first entry after the target chain's head. It returns
// the replace header (without the counters pointer) and the entries blob.
func Encode(t *Table) (Replace, []byte, error) {
	fam := t.Family
	if fam != IPv4 && fam != IPv6 {
		return Replace{}, nil, fmt.Errorf("encode table %q: unknown family %d", t.Name, fam)
	}
	if len(t.Name) >= TableNameLen {
		return Replace{}, nil, fmt.Errorf("encode table %q: name longer than %d bytes", t.Name, TableNameLen-1)
	}
	esize := fam.EntrySize()
	// First pass: offsets of every chain's first entry after its head.
	start := map[string]int{}
	off := 0
	n := 0
	for _, c := range t.Chains {
		if !c.Builtin() {
			if len(c.Name) >= FunctionNameLen || c.Name == "" {
				return Replace{}, nil, fmt.Errorf("encode table %q: bad chain name %q", t.Name, c.Name)
			}
			off += esize + ErrorTargetSize
			n++
			start[c.Name] = off
		}
		for i, r := range c.Rules {
			sz, err := ruleSize(fam, r)
			if err != nil {
				return Replace{}, nil, fmt.Errorf("encode table %q chain %s rule %d: %w", t.Name, c.Name, i+1, err)
			}
			off += sz
			n++
		}
		off += esize + StandardTargetSize
		n++
	}
	off += esize + ErrorTargetSize
	n++
	if off > 1<<31 {
		return Replace{}, nil, fmt.Errorf("encode table %q: %d bytes is too large", t.Name, off)
	}
	rep := Replace{Name: t.Name, ValidHooks: t.ValidHooks, NumEntries: uint32(n), Size: uint32(off), NumCounters: 0}
	for h := range NumHooks {
		rep.HookEntry[h] = 0xffffffff
		rep.Underflow[h] = 0xffffffff
	}
	blob := make([]byte, off)
	off = 0
	for _, c := range t.Chains {
		if c.Builtin() {
			if c.Hook >= NumHooks {
				return Replace{}, nil, fmt.Errorf("encode table %q: chain %s has hook %d", t.Name, c.Name, c.Hook)
			}
			rep.HookEntry[c.Hook] = uint32(off)
		} else {
			off += putErrorEntry(blob[off:], fam, c.Name)
		}
		for i, r := range c.Rules {
			sz, err := putRule(blob[off:], fam, r, off, start)
			if err != nil {
				return Replace{}, nil, fmt.Errorf("encode table %q chain %s rule %d: %w", t.Name, c.Name, i+1, err)
			}
			off += sz
		}
		if c.Builtin() {
			rep.Underflow[c.Hook] = uint32(off)
			off += putStandardEntry(blob[off:], fam, c.Policy, c.Counters)
		} else {
			off += putStandardEntry(blob[off:], fam, VerdictReturn, c.Counters)
		}
	}
	putErrorEntry(blob[off:], fam, "ERROR")
	return rep, blob, nil
}

func ruleSize(fam Family, r *Rule) (int, error) {
	sz := fam.EntrySize()
	for _, m := range r.Matches {
		if len(m.Name) >= ExtNameLen {
			return 0, fmt.Errorf("match name %q longer than %d bytes", m.Name, ExtNameLen-1)
		}
		sz += ExtHeaderSize + alignUp(len(m.Data))
	}
	switch r.Target.Kind {
	case TargetExtension:
		if len(r.Target.Name) >= ExtNameLen || r.Target.Name == "" {
			return 0, fmt.Errorf("bad target name %q", r.Target.Name)
		}
		sz += ExtHeaderSize + alignUp(len(r.Target.Data))
	default:
		sz += StandardTargetSize
	}
	if sz > 0xffff {
		return 0, fmt.Errorf("entry of %d bytes does not fit next_offset", sz)
	}
	return sz, nil
}

func putEntryHeader(b []byte, fam Family, ip *IPHeader, nfcache uint32, targetOff, next int, c Counters) {
	nfcOff, toOff, noOff, _, cOff := entryOffsets(fam)
	if ip != nil {
		ip.marshal(b, fam)
	}
	ne.PutUint32(b[nfcOff:], nfcache)
	ne.PutUint16(b[toOff:], uint16(targetOff))
	ne.PutUint16(b[noOff:], uint16(next))
	ne.PutUint64(b[cOff:], c.Packets)
	ne.PutUint64(b[cOff+8:], c.Bytes)
}

func putExt(b []byte, name string, rev uint8, data []byte) int {
	size := ExtHeaderSize + alignUp(len(data))
	ne.PutUint16(b, uint16(size))
	putCString(b[2:2+ExtNameLen], name)
	b[2+ExtNameLen] = rev
	copy(b[ExtHeaderSize:], data)
	return size
}

func putErrorEntry(b []byte, fam Family, name string) int {
	esize := fam.EntrySize()
	putEntryHeader(b, fam, nil, 0, esize, esize+ErrorTargetSize, Counters{})
	t := b[esize:]
	ne.PutUint16(t, ErrorTargetSize)
	putCString(t[2:2+ExtNameLen], "ERROR")
	putCString(t[ExtHeaderSize:ExtHeaderSize+FunctionNameLen], name)
	return esize + ErrorTargetSize
}

func putStandardEntry(b []byte, fam Family, verdict int32, c Counters) int {
	esize := fam.EntrySize()
	putEntryHeader(b, fam, nil, 0, esize, esize+StandardTargetSize, c)
	t := b[esize:]
	ne.PutUint16(t, StandardTargetSize)
	ne.PutUint32(t[ExtHeaderSize:], uint32(verdict))
	return esize + StandardTargetSize
}

func putRule(b []byte, fam Family, r *Rule, off int, start map[string]int) (int, error) {
	size, err := ruleSize(fam, r)
	if err != nil {
		return 0, err
	}
	moff := fam.EntrySize()
	for _, m := range r.Matches {
		moff += putExt(b[moff:], m.Name, m.Revision, m.Data)
	}
	putEntryHeader(b, fam, &r.IP, r.NFCache, moff, size, r.Counters)
	t := b[moff:]
	switch r.Target.Kind {
	case TargetExtension:
		putExt(t, r.Target.Name, r.Target.Revision, r.Target.Data)
		return size, nil
	case TargetVerdict:
		if r.Target.Verdict >= 0 || r.Target.Verdict < -NFMaxVerdict-1 {
			return 0, fmt.Errorf("standard verdict %d is not a netfilter verdict", r.Target.Verdict)
		}
		putStandardVerdict(t, r.Target.Verdict)
	case TargetFallthrough:
		putStandardVerdict(t, int32(off+size))
	case TargetJump:
		s, ok := start[r.Target.Chain]
		if !ok {
			return 0, fmt.Errorf("jump to %q, which is not a user chain of the table", r.Target.Chain)
		}
		putStandardVerdict(t, int32(s))
	default:
		return 0, fmt.Errorf("unknown target kind %d", r.Target.Kind)
	}
	return size, nil
}

func putStandardVerdict(t []byte, v int32) {
	ne.PutUint16(t, StandardTargetSize)
	ne.PutUint32(t[ExtHeaderSize:], uint32(v))
}

// EntryCounters returns one counter pair per entry of Encode(t)'s blob, in
// blob order, for SO_SET_ADD_COUNTERS after a replace: ERROR entries get
// zero; a rule (or policy/RETURN entry) decoded from the old table whose
// counters were not set explicitly gets old[Origin-1], the kernel's counters
// as the replace returned them; anything else its own Counters. This is
// libiptc's counter map.
func EntryCounters(t *Table, old []Counters) []Counters {
	pick := func(origin int, set bool, own Counters) Counters {
		if origin > 0 && !set && origin <= len(old) {
			return old[origin-1]
		}
		return own
	}
	var out []Counters
	for _, c := range t.Chains {
		if !c.Builtin() {
			out = append(out, Counters{})
		}
		for _, r := range c.Rules {
			out = append(out, pick(r.Origin, r.CountersSet, r.Counters))
		}
		out = append(out, pick(c.Origin, c.CountersSet, c.Counters))
	}
	return append(out, Counters{})
}
