package abi

import "fmt"

// Info is struct ipt_getinfo / ip6t_getinfo: the answer to SO_GET_INFO.
type Info struct {
	Name       string
	ValidHooks uint32
	HookEntry  [NumHooks]uint32
	Underflow  [NumHooks]uint32
	NumEntries uint32
	Size       uint32
}

// MarshalInfoRequest returns an ipt_getinfo buffer with the table name set,
// as the caller of SO_GET_INFO fills it in.
func MarshalInfoRequest(table string) []byte {
	b := make([]byte, GetInfoSize)
	putCString(b[:TableNameLen], table)
	return b
}

// Marshal encodes the Info as struct ipt_getinfo.
func (in *Info) Marshal() []byte {
	b := make([]byte, GetInfoSize)
	putCString(b[:TableNameLen], in.Name)
	ne.PutUint32(b[32:], in.ValidHooks)
	for i := range NumHooks {
		ne.PutUint32(b[36+4*i:], in.HookEntry[i])
		ne.PutUint32(b[56+4*i:], in.Underflow[i])
	}
	ne.PutUint32(b[76:], in.NumEntries)
	ne.PutUint32(b[80:], in.Size)
	return b
}

// UnmarshalInfo decodes struct ipt_getinfo.
func UnmarshalInfo(b []byte) (Info, error) {
	var in Info
	if len(b) < GetInfoSize {
		return in, fmt.Errorf("ipt_getinfo: %d bytes, want %d", len(b), GetInfoSize)
	}
	in.Name = cString(b[:TableNameLen])
	in.ValidHooks = ne.Uint32(b[32:])
	for i := range NumHooks {
		in.HookEntry[i] = ne.Uint32(b[36+4*i:])
		in.Underflow[i] = ne.Uint32(b[56+4*i:])
	}
	in.NumEntries = ne.Uint32(b[76:])
	in.Size = ne.Uint32(b[80:])
	return in, nil
}

// MarshalGetEntriesRequest returns an ipt_get_entries buffer for a table
// whose entries take size bytes: the header followed by room for them.
func MarshalGetEntriesRequest(table string, size uint32) []byte {
	b := make([]byte, GetEntriesHeaderSize+int(size))
	putCString(b[:TableNameLen], table)
	ne.PutUint32(b[32:], size)
	return b
}

// UnmarshalGetEntries decodes the answer to SO_GET_ENTRIES: the table name
// and the entries blob.
func UnmarshalGetEntries(b []byte) (name string, entries []byte, err error) {
	if len(b) < GetEntriesHeaderSize {
		return "", nil, fmt.Errorf("ipt_get_entries: %d bytes, want at least %d", len(b), GetEntriesHeaderSize)
	}
	size := ne.Uint32(b[32:])
	if uint64(size) > uint64(len(b)-GetEntriesHeaderSize) {
		return "", nil, fmt.Errorf("ipt_get_entries: size %d exceeds the %d bytes received", size, len(b)-GetEntriesHeaderSize)
	}
	return cString(b[:TableNameLen]), b[GetEntriesHeaderSize : GetEntriesHeaderSize+int(size)], nil
}

// Replace is the header of struct ipt_replace / ip6t_replace. Counters is
// the user address of the buffer receiving the old counters (NumCounters
// entries of xt_counters), filled in by whoever issues the request.
type Replace struct {
	Name        string
	ValidHooks  uint32
	NumEntries  uint32
	Size        uint32
	HookEntry   [NumHooks]uint32
	Underflow   [NumHooks]uint32
	NumCounters uint32
	Counters    uint64
}

// Marshal encodes the ipt_replace header followed by the entries blob.
func (r *Replace) Marshal(entries []byte) []byte {
	b := make([]byte, ReplaceHeaderSize+len(entries))
	putCString(b[:TableNameLen], r.Name)
	ne.PutUint32(b[32:], r.ValidHooks)
	ne.PutUint32(b[36:], r.NumEntries)
	ne.PutUint32(b[40:], r.Size)
	for i := range NumHooks {
		ne.PutUint32(b[44+4*i:], r.HookEntry[i])
		ne.PutUint32(b[64+4*i:], r.Underflow[i])
	}
	ne.PutUint32(b[84:], r.NumCounters)
	ne.PutUint64(b[88:], r.Counters)
	copy(b[ReplaceHeaderSize:], entries)
	return b
}

// UnmarshalReplace decodes an ipt_replace request into its header and
// entries blob, checking that size matches the bytes that follow.
func UnmarshalReplace(b []byte) (Replace, []byte, error) {
	var r Replace
	if len(b) < ReplaceHeaderSize {
		return r, nil, fmt.Errorf("ipt_replace: %d bytes, want at least %d", len(b), ReplaceHeaderSize)
	}
	r.Name = cString(b[:TableNameLen])
	r.ValidHooks = ne.Uint32(b[32:])
	r.NumEntries = ne.Uint32(b[36:])
	r.Size = ne.Uint32(b[40:])
	for i := range NumHooks {
		r.HookEntry[i] = ne.Uint32(b[44+4*i:])
		r.Underflow[i] = ne.Uint32(b[64+4*i:])
	}
	r.NumCounters = ne.Uint32(b[84:])
	r.Counters = ne.Uint64(b[88:])
	if uint64(r.Size) != uint64(len(b)-ReplaceHeaderSize) {
		return r, nil, fmt.Errorf("ipt_replace: size %d does not match the %d bytes of entries", r.Size, len(b)-ReplaceHeaderSize)
	}
	return r, b[ReplaceHeaderSize:], nil
}

// Info returns the get-info view of a replace header.
func (r *Replace) Info() Info {
	return Info{Name: r.Name, ValidHooks: r.ValidHooks, HookEntry: r.HookEntry,
		Underflow: r.Underflow, NumEntries: r.NumEntries, Size: r.Size}
}

// MarshalCountersInfo encodes struct xt_counters_info for
// SO_SET_ADD_COUNTERS.
func MarshalCountersInfo(table string, counters []Counters) []byte {
	b := make([]byte, CountersInfoHeaderSize+CountersSize*len(counters))
	putCString(b[:TableNameLen], table)
	ne.PutUint32(b[32:], uint32(len(counters)))
	for i, c := range counters {
		off := CountersInfoHeaderSize + CountersSize*i
		ne.PutUint64(b[off:], c.Packets)
		ne.PutUint64(b[off+8:], c.Bytes)
	}
	return b
}

// UnmarshalCountersInfo decodes struct xt_counters_info.
func UnmarshalCountersInfo(b []byte) (string, []Counters, error) {
	if len(b) < CountersInfoHeaderSize {
		return "", nil, fmt.Errorf("xt_counters_info: %d bytes, want at least %d", len(b), CountersInfoHeaderSize)
	}
	n := ne.Uint32(b[32:])
	if uint64(n)*CountersSize != uint64(len(b)-CountersInfoHeaderSize) {
		return "", nil, fmt.Errorf("xt_counters_info: %d counters do not fit the %d bytes that follow", n, len(b)-CountersInfoHeaderSize)
	}
	out := make([]Counters, n)
	for i := range out {
		off := CountersInfoHeaderSize + CountersSize*i
		out[i] = Counters{Packets: ne.Uint64(b[off:]), Bytes: ne.Uint64(b[off+8:])}
	}
	return cString(b[:TableNameLen]), out, nil
}

// UnmarshalCounters decodes an array of xt_counters.
func UnmarshalCounters(b []byte) ([]Counters, error) {
	if len(b)%CountersSize != 0 {
		return nil, fmt.Errorf("xt_counters array: %d bytes is not a multiple of %d", len(b), CountersSize)
	}
	out := make([]Counters, len(b)/CountersSize)
	for i := range out {
		out[i] = Counters{Packets: ne.Uint64(b[16*i:]), Bytes: ne.Uint64(b[16*i+8:])}
	}
	return out, nil
}
