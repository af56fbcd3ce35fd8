package localroutes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Defaults of Options.
const (
	// DefaultResync is the interval of the safety-net dump.
	DefaultResync = 10 * time.Second
	// DefaultSettle is how long a burst of notifications may go on before
	// the dump that follows it.
	DefaultSettle = 20 * time.Millisecond
)

// Options tune a Mirror.
type Options struct {
	// Logger receives sync failures (nil: discarded; Err reports the last
	// one either way).
	Logger *slog.Logger
	// Resync and Settle: see DefaultResync and DefaultSettle (0: default).
	Resync, Settle time.Duration
	// Alive, when set, is asked at every Resync interval whether the
	// namespace still exists apart from the Mirror's own sockets (which
	// keep it from being freed); when it says no, the Mirror stops
	// following and closes its sockets so that the namespace can go.
	Alive func() bool
}

// Mirror keeps address type maps equal to one network namespace's
// routes. It is safe for concurrent use.
type Mirror struct {
	opts   Options
	dump   *netlink.Conn // requests
	notify *netlink.Conn // notifications
	trie   *os.File      // /proc/net/fib_triestat of the namespace

	mu      sync.Mutex
	stopped bool // the namespace is gone (Options.Alive)
	maps    map[ebpf.MapID]*ebpf.Map
	table   []ir.LocalRoute
	lastErr error
	syncs   uint64

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start creates a Mirror of the network namespace enter runs its function
// in (the sockets and the fib_trie file are opened there; the Mirror then
// works from any thread), dumps the routes once and starts following
// changes.
func Start(enter func(func() error) error, opts Options) (*Mirror, error) {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	m := &Mirror{opts: opts, maps: map[ebpf.MapID]*ebpf.Map{}, done: make(chan struct{})}
	err := enter(func() error {
		var err error
		if m.dump, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		if m.notify, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		for _, g := range []uint32{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_RULE} {
			if err := m.notify.JoinGroup(g); err != nil {
				return fmt.Errorf("joining rtnetlink group %d: %w", g, err)
			}
		}
		if m.trie, err = os.Open("/proc/thread-self/net/fib_triestat"); err != nil {
			return fmt.Errorf("opening the namespace's fib_triestat: %w", err)
		}
		return nil
	})
	if err == nil {
		err = m.Sync()
	}
	if err != nil {
		m.closeFiles()
		return nil, fmt.Errorf("mirroring the local routing table: %w", err)
	}
	m.wg.Add(1)
	go m.follow()
	return m, nil
}

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

// Sync dumps the routes and rewrites every map held.
func (m *Mirror) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncLocked()
}

func (m *Mirror) syncLocked() error {
	if m.stopped {
		return errNamespaceGone
	}
	tab, err := m.snapshot()
	if err == nil {
		m.table = tab
		for _, mp := range m.maps {
			err = errors.Join(err, writeMap(mp, tab))
		}
	}
	m.syncs++
	m.lastErr = err
	return err
}

// Add clones mp (a backend.AddrTypeMap) into the maps held and fills it
// with the current table before returning.
func (m *Mirror) Add(mp *ebpf.Map) error {
	id, err := mapID(mp)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return errNamespaceGone
	}
	if _, ok := m.maps[id]; ok {
		return nil
	}
	if m.table == nil {
		if err := m.syncLocked(); err != nil {
			return err
		}
	}
	c, err := mp.Clone()
	if err != nil {
		return fmt.Errorf("holding map %s: %w", backend.AddrTypeMap, err)
	}
	if err := writeMap(c, m.table); err != nil {
		c.Close()
		return err
	}
	m.maps[id] = c
	return nil
}

// Retain drops the maps held that are not in keep (identified by map
// id) and returns how many remain.
func (m *Mirror) Retain(keep []*ebpf.Map) int {
	ids := map[ebpf.MapID]bool{}
	for _, mp := range keep {
		if id, err := mapID(mp); err == nil {
			ids[id] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.maps {
		if !ids[id] {
			c.Close()
			delete(m.maps, id)
		}
	}
	return len(m.maps)
}

// Table returns the entries last written.
func (m *Mirror) Table() []ir.LocalRoute {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ir.LocalRoute(nil), m.table...)
}

// Err returns the error of the last sync (nil: it succeeded).
func (m *Mirror) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastErr
}

// Close stops following changes and releases the maps held (their
// contents stay as last written).
func (m *Mirror) Close() error {
	select {
	case <-m.done:
		return nil
	default:
	}
	close(m.done)
	err := m.closeFiles()
	m.wg.Wait()
	m.mu.Lock()
	for id, c := range m.maps {
		c.Close()
		delete(m.maps, id)
	}
	m.mu.Unlock()
	return err
}

// closeFiles closes the sockets and fib_trie (once; later calls return
// nil).
func (m *Mirror) closeFiles() error {
	var errs []error
	m.closeOnce.Do(func() {
		if m.notify != nil {
			errs = append(errs, m.notify.Close())
		}
		if m.dump != nil {
			errs = append(errs, m.dump.Close())
		}
		if m.trie != nil {
			errs = append(errs, m.trie.Close())
		}
	})
	return errors.Join(errs...)
}

// errNamespaceGone is the error of a Mirror whose namespace went away.
var errNamespaceGone = errors.New("the network namespace is gone")

// follow dumps again after each burst of notifications, after a lost
// notification (ENOBUFS) and every Resync interval.
func (m *Mirror) follow() {
	defer m.wg.Done()
	pending := false
	var since time.Time
	for {
		wait := m.opts.Resync
		if pending {
			wait = m.opts.Settle
			// A steady stream of notifications must not hold the dump
			// back for more than maxSettles settle intervals.
			if time.Since(since) > maxSettles*m.opts.Settle {
				wait = 0
			}
		}
		if err := m.notify.SetReadDeadline(time.Now().Add(wait)); err != nil {
			m.report(fmt.Errorf("setting the notification deadline: %w", err))
			return
		}
		msgs, err := m.notify.Receive()
		select {
		case <-m.done:
			return
		default:
		}
		var ne netTimeout
		switch {
		case err == nil:
			if !pending && len(msgs) > 0 {
				pending, since = true, time.Now()
			}
			if wait > 0 {
				continue
			}
		case errors.As(err, &ne) && ne.Timeout():
			if !pending && m.opts.Alive != nil && !m.opts.Alive() {
				m.stop()
				return
			}
		case errors.Is(err, unix.ENOBUFS):
			// Notifications were lost: dump now.
		default:
			m.report(fmt.Errorf("reading route notifications: %w", err))
			time.Sleep(m.opts.Settle)
		}
		pending = false
		if err := m.Sync(); err != nil {
			m.report(err)
		}
	}
}

// stop ends a Mirror whose namespace is gone: no more syncs, sockets
// closed (the maps keep their contents).
func (m *Mirror) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	if err := m.closeFiles(); err != nil {
		m.report(fmt.Errorf("closing the sockets of a gone namespace: %w", err))
	}
	if m.opts.Logger != nil {
		m.opts.Logger.Info("address type routes: the network namespace is gone, no longer following it")
	}
}

// Stopped reports whether the Mirror stopped because its namespace is
// gone (Options.Alive).
func (m *Mirror) Stopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}

// maxSettles bounds the delay a burst of notifications adds to a dump.
const maxSettles = 10

// netTimeout is the timeout test of net.Error.
type netTimeout interface{ Timeout() bool }

func (m *Mirror) report(err error) {
	m.mu.Lock()
	m.lastErr = err
	m.mu.Unlock()
	if m.opts.Logger != nil {
		m.opts.Logger.Warn("address type routes: sync failed", "err", err)
	}
}

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
