package localroutes

import (
	"errors"
	"fmt"
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
	// IPv6 (mirror6.go): the AddrType6Map maps held, the entries last
	// built (have6: built at least once) and why they may be inexact.
	maps6   map[ebpf.MapID]*ebpf.Map
	table6  []ir.AddrType6Entry
	have6   bool
	warn6   string
	lastErr error
	syncs   uint64

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start creates a Mirror of the network namespace enter runs its function
// in (the sockets and fib_triestat are opened there; the Mirror then
// works from any thread), dumps the routes once and starts following
// changes.
func Start(enter func(func() error) error, opts Options) (*Mirror, error) {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	m := &Mirror{opts: opts, maps: map[ebpf.MapID]*ebpf.Map{}, maps6: map[ebpf.MapID]*ebpf.Map{}, done: make(chan struct{})}
	err := enter(func() error {
		var err error
		if m.dump, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		if m.notify, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
			return fmt.Errorf("rtnetlink socket: %w", err)
		}
		for _, g := range []uint32{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_RULE,
			unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV6_RULE} {
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
	if len(m.maps6) > 0 {
		err = errors.Join(err, m.sync6Locked())
	}
	m.syncs++
	m.lastErr = err
	return err
}

// Add clones mp (a backend.AddrTypeMap or backend.AddrType6Map) into the
// maps held and fills it with the current table before returning.
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
	if isMap6(mp) {
		return m.add6(id, mp)
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
	for _, held := range []map[ebpf.MapID]*ebpf.Map{m.maps, m.maps6} {
		for id, c := range held {
			if !ids[id] {
				c.Close()
				delete(held, id)
			}
		}
	}
	return len(m.maps) + len(m.maps6)
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
	for _, held := range []map[ebpf.MapID]*ebpf.Map{m.maps, m.maps6} {
		for id, c := range held {
			c.Close()
			delete(held, id)
		}
	}
	m.mu.Unlock()
	return err
}

// closeFiles closes the sockets and fib_triestat (once; later calls return
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
