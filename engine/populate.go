package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/cilium/ebpf"
)

// Large map contents (lookup tables, class arrays, the action array) are
// written after loading with BPF_MAP_UPDATE_BATCH, one system call per map
// instead of one per entry (a 10,000-rule chain has 20,000 entries, a port
// class array 65,536).

// batchMin is the smallest content written in a batch.
const batchMin = 64

// deferContents returns a shallow copy of spec in which the hash and array
// maps with at least batchMin entries have no Contents, and those contents.
func deferContents(spec *ebpf.CollectionSpec) (*ebpf.CollectionSpec, map[string][]ebpf.MapKV) {
	var out *ebpf.CollectionSpec
	deferred := map[string][]ebpf.MapKV{}
	for name, ms := range spec.Maps {
		if len(ms.Contents) < batchMin || (ms.Type != ebpf.Hash && ms.Type != ebpf.Array) {
			continue
		}
		if out == nil {
			out = &ebpf.CollectionSpec{Maps: make(map[string]*ebpf.MapSpec, len(spec.Maps)), Programs: spec.Programs, Types: spec.Types, ByteOrder: spec.ByteOrder, Variables: spec.Variables}
			for n, m := range spec.Maps {
				out.Maps[n] = m
			}
		}
		cp := *ms
		cp.Contents = nil
		out.Maps[name] = &cp
		deferred[name] = ms.Contents
	}
	if out == nil {
		return spec, nil
	}
	return out, deferred
}

// populate writes the deferred contents into the loaded maps.
func populate(coll *ebpf.Collection, deferred map[string][]ebpf.MapKV) error {
	for name, kvs := range deferred {
		m := coll.Maps[name]
		if m == nil {
			return fmt.Errorf("map %s is not loaded", name)
		}
		if err := batchPut(m, kvs); err != nil {
			return fmt.Errorf("populate map %s: %w", name, err)
		}
	}
	return nil
}

// batchPut writes kvs with one batch update, or one update per entry when
// the kernel has no batch operation for the map.
func batchPut(m *ebpf.Map, kvs []ebpf.MapKV) error {
	keys, err := fixedSlice(kvs, int(m.KeySize()), func(kv ebpf.MapKV) any { return kv.Key })
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	vals, err := fixedSlice(kvs, int(m.ValueSize()), func(kv ebpf.MapKV) any { return kv.Value })
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}
	n, err := m.BatchUpdate(keys, vals, nil)
	if err == nil && n == len(kvs) {
		return nil
	}
	if err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	for _, kv := range kvs {
		if err := m.Put(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// fixedSlice encodes the keys or values of kvs (byte slices or unsigned
// integers, host order) as a slice of [size]byte arrays.
func fixedSlice(kvs []ebpf.MapKV, size int, get func(ebpf.MapKV) any) (any, error) {
	s := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeFor[byte]())), len(kvs), len(kvs))
	buf := make([]byte, 0, size)
	for i, kv := range kvs {
		buf = buf[:0]
		switch v := get(kv).(type) {
		case []byte:
			buf = append(buf, v...)
		case uint32:
			buf = binary.NativeEndian.AppendUint32(buf, v)
		case uint16:
			buf = binary.NativeEndian.AppendUint16(buf, v)
		default:
			return nil, fmt.Errorf("entry %d: unsupported type %T", i, v)
		}
		if len(buf) != size {
			return nil, fmt.Errorf("entry %d: %d bytes, want %d", i, len(buf), size)
		}
		reflect.Copy(s.Index(i), reflect.ValueOf(buf))
	}
	return s.Interface(), nil
}
