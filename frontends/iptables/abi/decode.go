package abi

import (
	"errors"
	"fmt"
)

// ErrBadBlob is wrapped by every Decode error about a malformed blob.
var ErrBadBlob = errors.New("invalid iptables blob")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadBlob}, args...)...)
}

// rawEntry is one entry as found in the blob.
type rawEntry struct {
	off      int
	ip       IPHeader
	nfcache  uint32
	next     int
	counters Counters
	matches  []Match
	tname    string
	trev     uint8
	tdata    []byte
}

func (e *rawEntry) isStandard() bool { return e.tname == "" }
func (e *rawEntry) isError() bool    { return e.tname == "ERROR" }

// verdict is the standard target's verdict; only valid for standard targets
// whose data was checked to be 8 bytes.
func (e *rawEntry) verdict() int32 { return int32(ne.Uint32(e.tdata)) }

// parseEntries walks the blob and checks each entry's offsets like the
// kernel's check_entry_size_and_hooks and xt_check_entry_offsets.
func parseEntries(fam Family, blob []byte) ([]*rawEntry, error) {
	esize := fam.EntrySize()
	nfcOff, toOff, noOff, _, cOff := entryOffsets(fam)
	var out []*rawEntry
	for off := 0; off < len(blob); {
		if off%Align != 0 {
			return nil, badf("entry at offset %d is not %d-byte aligned", off, Align)
		}
		if len(blob)-off < esize {
			return nil, badf("entry at offset %d: %d bytes left, an entry needs %d", off, len(blob)-off, esize)
		}
		b := blob[off:]
		targetOff := int(ne.Uint16(b[toOff:]))
		next := int(ne.Uint16(b[noOff:]))
		if next < esize+ExtHeaderSize {
			return nil, badf("entry at offset %d: next_offset %d is smaller than an entry with a target (%d)", off, next, esize+ExtHeaderSize)
		}
		if next > len(b) {
			return nil, badf("entry at offset %d: next_offset %d runs past the end of the blob (%d bytes left)", off, next, len(b))
		}
		if next%Align != 0 {
			return nil, badf("entry at offset %d: next_offset %d is not %d-byte aligned", off, next, Align)
		}
		if targetOff < esize || targetOff+ExtHeaderSize > next {
			return nil, badf("entry at offset %d: target_offset %d outside [%d, %d]", off, targetOff, esize, next-ExtHeaderSize)
		}
		e := &rawEntry{
			off:      off,
			ip:       unmarshalIP(b, fam),
			nfcache:  ne.Uint32(b[nfcOff:]),
			next:     next,
			counters: Counters{Packets: ne.Uint64(b[cOff:]), Bytes: ne.Uint64(b[cOff+8:])},
		}
		for moff := esize; moff < targetOff; {
			if targetOff-moff < ExtHeaderSize {
				return nil, badf("entry at offset %d: match at %d: %d bytes left before the target, a match header needs %d", off, moff, targetOff-moff, ExtHeaderSize)
			}
			m := b[moff:]
			msize := int(ne.Uint16(m))
			if msize < ExtHeaderSize || msize%Align != 0 || moff+msize > targetOff {
				return nil, badf("entry at offset %d: match at %d has bad match_size %d", off, moff, msize)
			}
			e.matches = append(e.matches, Match{
				Name:     cString(m[2 : 2+ExtNameLen]),
				Revision: m[2+ExtNameLen],
				Data:     append([]byte(nil), m[ExtHeaderSize:msize]...),
			})
			moff += msize
		}
		t := b[targetOff:]
		tsize := int(ne.Uint16(t))
		if tsize < ExtHeaderSize || tsize%Align != 0 || targetOff+tsize > next {
			return nil, badf("entry at offset %d: target has bad target_size %d (target_offset %d, next_offset %d)", off, tsize, targetOff, next)
		}
		e.tname = cString(t[2 : 2+ExtNameLen])
		e.trev = t[2+ExtNameLen]
		e.tdata = append([]byte(nil), t[ExtHeaderSize:tsize]...)
		if e.isStandard() && tsize != StandardTargetSize {
			return nil, badf("entry at offset %d: standard target size %d, want %d", off, tsize, StandardTargetSize)
		}
		if e.isError() && tsize != ErrorTargetSize {
			return nil, badf("entry at offset %d: ERROR target size %d, want %d", off, tsize, ErrorTargetSize)
		}
		if e.isStandard() {
			if v := e.verdict(); v < 0 && v < -NFMaxVerdict-1 {
				return nil, badf("entry at offset %d: standard verdict %d is not a netfilter verdict", off, v)
			}
		}
		out = append(out, e)
		off += next
		if len(out) > len(blob)/(esize+ExtHeaderSize)+1 {
			return nil, badf("too many entries") // unreachable: next >= esize+32
		}
	}
	return out, nil
}

// Decode checks the entries blob of a table described by info (from
// SO_GET_INFO or an ipt_replace header) and returns the table.
func Decode(fam Family, info Info, blob []byte) (*Table, error) {
	if fam != IPv4 && fam != IPv6 {
		return nil, fmt.Errorf("decode table %q: unknown family %d", info.Name, fam)
	}
	if uint64(info.Size) != uint64(len(blob)) {
		return nil, badf("table %q: size %d but %d bytes of entries", info.Name, info.Size, len(blob))
	}
	if info.ValidHooks&^(1<<NumHooks-1) != 0 {
		return nil, badf("table %q: valid_hooks %#x names hooks beyond %d", info.Name, info.ValidHooks, NumHooks-1)
	}
	entries, err := parseEntries(fam, blob)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", info.Name, err)
	}
	if uint64(len(entries)) != uint64(info.NumEntries) {
		return nil, badf("table %q: num_entries %d but the blob holds %d entries", info.Name, info.NumEntries, len(entries))
	}
	t, err := structure(fam, info, entries)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", info.Name, err)
	}
	return t, nil
}
