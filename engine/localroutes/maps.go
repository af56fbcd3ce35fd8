package localroutes

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

func mapID(mp *ebpf.Map) (ebpf.MapID, error) {
	info, err := mp.Info()
	if err != nil {
		return 0, fmt.Errorf("map %s: %w", backend.AddrTypeMap, err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, fmt.Errorf("map %s: the kernel reports no map id", backend.AddrTypeMap)
	}
	return id, nil
}

// writeMap makes mp hold exactly tab: new and changed entries first, then
// stale ones deleted, so an address never loses its entry while it has
// one in both the old and the new table.
func writeMap(mp *ebpf.Map, tab []ir.LocalRoute) error {
	want := make(map[string][]byte, len(tab))
	for _, r := range tab {
		want[string(backend.AddrTypeKey(r))] = backend.AddrTypeValue(r)
	}
	have := map[string][]byte{}
	var k, v []byte
	it := mp.Iterate()
	for it.Next(&k, &v) {
		have[string(k)] = append([]byte(nil), v...)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading map %s: %w", backend.AddrTypeMap, err)
	}
	for key, val := range want {
		if old, ok := have[key]; ok && bytes.Equal(old, val) {
			continue
		}
		if err := mp.Put([]byte(key), val); err != nil {
			return fmt.Errorf("writing map %s: %w", backend.AddrTypeMap, err)
		}
	}
	for key := range have {
		if _, ok := want[key]; ok {
			continue
		}
		if err := mp.Delete([]byte(key)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting from map %s: %w", backend.AddrTypeMap, err)
		}
	}
	return nil
}
