package localroutes

import (
	"bytes"
	"fmt"
	"io"

	"github.com/bpfilter-go/bpfilter/ir"
)

// maxSnapshotTries bounds the dumps of a snapshot that keeps racing with
// route changes.
const maxSnapshotTries = 3

// Snapshot dumps the namespace's routes and returns the entries the
// address type lookup needs (Build).
func (m *Mirror) Snapshot() ([]ir.LocalRoute, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshot()
}

// snapshot is Snapshot with m.mu held. Whether the tables are merged
// comes from fib_triestat read before and after the dump; a route
// change in between (the two reads differ) means another try.
func (m *Mirror) snapshot() ([]ir.LocalRoute, error) {
	for try := 1; ; try++ {
		before, err := m.triestat()
		if err != nil {
			return nil, err
		}
		local, main, err := dumpRoutes(m.dump)
		if err != nil {
			return nil, err
		}
		after, err := m.triestat()
		if err != nil {
			return nil, err
		}
		if bytes.Equal(before, after) || try == maxSnapshotTries {
			// After the last try, the notification of the change that
			// raced brings another sync.
			return Build(local, main, merged(after, len(local), len(main))), nil
		}
	}
}

func (m *Mirror) triestat() ([]byte, error) {
	if _, err := m.trie.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewinding fib_triestat: %w", err)
	}
	text, err := io.ReadAll(m.trie)
	if err != nil {
		return nil, fmt.Errorf("reading fib_triestat: %w", err)
	}
	return text, nil
}
