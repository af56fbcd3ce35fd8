package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// Restore compiles the chain again to learn its map layout and rule IDs.
// After an Update whose plan numbers rules differently from a fresh
// compile (insertions, deletions), that would mismatch the pinned maps,
// so Update records it in a one-slot array, updatedMap, which is pinned
// with the chain; Restore refuses such pins (the caller loads the chain
// again). Updates that keep the fresh numbering (rules replaced in place)
// leave it alone: Restore then picks the chain up as usual.

// ErrUpdated is returned (wrapped) by Restore for pins changed in place by
// an Update that inserted or deleted rules: load the chain again.
var ErrUpdated = errors.New("the pinned chain was changed in place by Update (rules inserted or deleted): its rule IDs differ from a fresh compile; load it again")

// updatedMap is the name of the marker map.
const updatedMap = "bf_updated"

// markUpdated records that the loaded maps no longer follow a fresh
// compile of the chain.
func (c *Chain) markUpdated() error {
	m := c.coll.Maps[updatedMap]
	if m == nil {
		var err error
		m, err = ebpf.NewMap(&ebpf.MapSpec{Name: updatedMap, Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			return fmt.Errorf("create %s: %w", updatedMap, err)
		}
		c.coll.Maps[updatedMap] = m
		if c.pinDir != "" {
			if err := m.Pin(filepath.Join(c.pinDir, updatedMap)); err != nil {
				return fmt.Errorf("pin %s: %w", updatedMap, err)
			}
		}
	}
	if err := m.Put(uint32(0), uint32(1)); err != nil {
		return fmt.Errorf("write %s: %w", updatedMap, err)
	}
	return nil
}

// checkNotUpdated fails when the pins in dir carry the Update marker.
func checkNotUpdated(dir string) error {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, updatedMap), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer m.Close()
	var v uint32
	if err := m.Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("read %s: %w", updatedMap, err)
	}
	if v != 0 {
		return ErrUpdated
	}
	return nil
}
