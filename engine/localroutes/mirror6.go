package localroutes

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

// IPv6: a Mirror holding backend.AddrType6Map maps also dumps the IPv6
// routes, addresses and policy rules and writes Build6's entries.

// isMap6 reports whether mp is an AddrType6Map (by its key size).
func isMap6(mp *ebpf.Map) bool {
	return mp.KeySize() == uint32(len(backend.AddrType6Key(ir.AddrType6Entry{})))
}

// snapshot6 dumps the IPv6 state and builds the entries. warn says why
// they may differ from the kernel's answers (policy rules other than the
// defaults, whose lookups the entries do not follow), "" when exact.
func (m *Mirror) snapshot6() (tab []ir.AddrType6Entry, warn string, err error) {
	if warn, err = defaultRules6(m.dump); err != nil {
		return nil, "", err
	}
	routes, err := dumpRoutes6(m.dump)
	if err != nil {
		return nil, "", err
	}
	addrs, err := dumpAddrs6(m.dump)
	if err != nil {
		return nil, "", err
	}
	tab, err = Build6(routes, addrs)
	return tab, warn, err
}

// sync6Locked rebuilds the IPv6 table and writes every IPv6 map held.
func (m *Mirror) sync6Locked() error {
	tab, warn, err := m.snapshot6()
	if err != nil {
		return fmt.Errorf("IPv6 address types: %w", err)
	}
	if warn != m.warn6 && warn != "" && m.opts.Logger != nil {
		m.opts.Logger.Warn("address type routes: ip6tables addrtype LOCAL, ANYCAST and UNREACHABLE follow the local and main tables only", "reason", warn)
	}
	m.table6, m.warn6, m.have6 = tab, warn, true
	for _, mp := range m.maps6 {
		err = errors.Join(err, writeMap6(mp, tab))
	}
	return err
}

// add6 is Add for an AddrType6Map; m.mu is held.
func (m *Mirror) add6(id ebpf.MapID, mp *ebpf.Map) error {
	if _, ok := m.maps6[id]; ok {
		return nil
	}
	if !m.have6 {
		if err := m.sync6Locked(); err != nil {
			return err
		}
	}
	c, err := mp.Clone()
	if err != nil {
		return fmt.Errorf("holding map %s: %w", backend.AddrType6Map, err)
	}
	if err := writeMap6(c, m.table6); err != nil {
		c.Close()
		return err
	}
	m.maps6[id] = c
	return nil
}

// Table6 returns the IPv6 entries last written.
func (m *Mirror) Table6() []ir.AddrType6Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ir.AddrType6Entry(nil), m.table6...)
}

// Warning6 says why the IPv6 entries may differ from the kernel's answers
// ("" when they follow them exactly).
func (m *Mirror) Warning6() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.warn6
}

// writeMap6 makes mp hold exactly tab, as writeMap.
func writeMap6(mp *ebpf.Map, tab []ir.AddrType6Entry) error {
	want := make(map[string][]byte, len(tab))
	for _, e := range tab {
		want[string(backend.AddrType6Key(e))] = backend.AddrType6Value(e)
	}
	return writeRaw(mp, backend.AddrType6Map, want)
}

// writeRaw makes mp hold exactly want: new and changed entries first,
// then stale ones deleted.
func writeRaw(mp *ebpf.Map, name string, want map[string][]byte) error {
	have := map[string][]byte{}
	var k, v []byte
	it := mp.Iterate()
	for it.Next(&k, &v) {
		have[string(k)] = append([]byte(nil), v...)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading map %s: %w", name, err)
	}
	for key, val := range want {
		if old, ok := have[key]; ok && bytes.Equal(old, val) {
			continue
		}
		if err := mp.Put([]byte(key), val); err != nil {
			return fmt.Errorf("writing map %s: %w", name, err)
		}
	}
	for key := range have {
		if _, ok := want[key]; ok {
			continue
		}
		if err := mp.Delete([]byte(key)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting from map %s: %w", name, err)
		}
	}
	return nil
}
