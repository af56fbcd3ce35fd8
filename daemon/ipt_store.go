package daemon

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// iptTable is one family's filter table as the iptables front installed
// it: the ipt_replace request that carried it, kept as received so that
// SO_GET_ENTRIES answers give back the same entries the kernel would, and
// one counter base per entry.
//
// An entry's counters are its base plus the BPF counters of the IR rules
// built from it (ipt_build.go). A replace sets the bases so that every
// entry of the new table starts at zero, as in the kernel (the BPF
// counters the engine carries over unchanged rules are subtracted);
// ipt.add_counters adds to the bases, like IPT_SO_SET_ADD_COUNTERS.
type iptTable struct {
	// Replace is the ipt_replace header and entries, counters pointer
	// cleared.
	Replace []byte `json:"replace"`
	// Base holds one counter pair per entry, in blob order.
	Base []abi.Counters `json:"base"`

	fam   abi.Family
	table *abi.Table
	rep   abi.Replace
	// entries is the entries blob inside Replace.
	entries []byte
	// offsets are the byte offsets of the entries in the blob.
	offsets []int
}

// iptTables are the iptables front's tables by family (4, 6).
type iptTables map[abi.Family]*iptTable

// newIptTable decodes and checks an ipt_replace request of family fam.
func newIptTable(fam abi.Family, req []byte) (*iptTable, error) {
	t := &iptTable{Replace: append([]byte(nil), req...)}
	if err := t.decode(fam); err != nil {
		return nil, err
	}
	t.Base = make([]abi.Counters, len(t.offsets))
	return t, nil
}

// decode fills the derived fields from Replace.
func (t *iptTable) decode(fam abi.Family) error {
	tab, rep, err := abi.DecodeReplace(fam, t.Replace)
	if err != nil {
		return err
	}
	_, entries, err := abi.UnmarshalReplace(t.Replace)
	if err != nil {
		return err
	}
	// The counters pointer is the sender's address: meaningless here.
	binary.NativeEndian.PutUint64(t.Replace[88:96], 0)
	rep.Counters = 0
	t.fam, t.table, t.rep, t.entries = fam, tab, rep, entries
	t.offsets = t.offsets[:0]
	for off := 0; off < len(entries); {
		t.offsets = append(t.offsets, off)
		next := int(binary.NativeEndian.Uint16(entries[off+nextOffsetField(fam):]))
		off += next
	}
	if len(t.offsets) != int(rep.NumEntries) {
		return fmt.Errorf("ipt_replace: %d entries walked, header says %d", len(t.offsets), rep.NumEntries)
	}
	return nil
}

// load decodes every saved table, checking them as a replace does.
func (ts iptTables) load() error {
	for fam, t := range ts {
		if t == nil {
			return fmt.Errorf("iptables table of family %d is null", fam)
		}
		if fam != abi.IPv4 && fam != abi.IPv6 {
			return fmt.Errorf("iptables table of unknown family %d", fam)
		}
		base := t.Base
		if err := t.decode(fam); err != nil {
			return fmt.Errorf("iptables %s table: %w", fam, err)
		}
		if len(base) != len(t.offsets) {
			return fmt.Errorf("iptables %s table: %d counter bases for %d entries", fam, len(base), len(t.offsets))
		}
	}
	return nil
}

// with returns a copy of ts with fam's table replaced by t.
func (ts iptTables) with(fam abi.Family, t *iptTable) iptTables {
	out := iptTables{}
	for f, o := range ts {
		out[f] = o
	}
	out[fam] = t
	return out
}

// info is the table's SO_GET_INFO answer.
func (t *iptTable) info() abi.Info { return t.rep.Info() }

// entriesWith returns the entries blob with each entry's counters set to
// cnt[i] (blob order).
func (t *iptTable) entriesWith(cnt []abi.Counters) []byte {
	b := append([]byte(nil), t.entries...)
	co := t.fam.EntrySize() - abi.CountersSize
	for i, off := range t.offsets {
		var c abi.Counters
		if i < len(cnt) {
			c = cnt[i]
		}
		binary.NativeEndian.PutUint64(b[off+co:], c.Packets)
		binary.NativeEndian.PutUint64(b[off+co+8:], c.Bytes)
	}
	return b
}

// nextOffsetField is the offset of next_offset in ipt_entry / ip6t_entry
// (the uapi layout, checked by package abi's layout tests: it follows
// nfcache and target_offset after the IP header).
func nextOffsetField(fam abi.Family) int {
	if fam == abi.IPv6 {
		return abi.IPv6HeaderSize + 6
	}
	return abi.IPv4HeaderSize + 6
}
