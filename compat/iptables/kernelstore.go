package iptables

import (
	"bytes"
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
)

// KernelTables returns a Tables whose tables are read from the kernel
// through conn on first use, for working on live iptables-legacy tables
// (importing a host's rules, or acting as iptables-legacy in tests).
// Commit writes changed tables back.
func KernelTables(conn *kernel.Conn) *Tables {
	ts := NewTables(conn.Family())
	ts.read = map[string][]byte{}
	ts.Loader = func(name string) (*abi.Table, error) {
		if _, ok := tableHooks[name]; !ok {
			return NewTable(conn.Family(), name)
		}
		t, _, blob, err := conn.ReadTable(name)
		if err != nil {
			return nil, err
		}
		ts.read[name] = abi.MaskVolatile(conn.Family(), blob)
		return t, nil
	}
	return ts
}

// Commit replaces every kernel table whose rules changed since it was read
// and carries the model's counters over with SO_SET_ADD_COUNTERS, like
// libiptc's commit.
func (ts *Tables) Commit(conn *kernel.Conn) error {
	for _, name := range ts.Loaded() {
		t := ts.tables[name]
		rep, blob, err := abi.Encode(t)
		if err != nil {
			return fmt.Errorf("commit table %s: %w", name, err)
		}
		if old, ok := ts.read[name]; ok && bytes.Equal(old, abi.MaskVolatile(ts.Family, blob)) && !ts.countersChanged[name] {
			continue
		}
		info, err := conn.GetInfo(name)
		if err != nil {
			return err
		}
		old, err := conn.Replace(rep, blob, info.NumEntries)
		if err != nil {
			return err
		}
		if err := conn.AddCounters(name, abi.EntryCounters(t, old)); err != nil {
			return err
		}
		ts.read[name] = abi.MaskVolatile(ts.Family, blob)
	}
	return nil
}
