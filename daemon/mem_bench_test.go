package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// memShapes are issue #5's two ruleset shapes with the sizes measured for
// each: (a) rules differing only by source address, (b) rulegen's
// realistic mix.
var memShapes = []struct {
	name  string
	kind  rulegen.Kind
	sizes []int
}{
	{"saddr", rulegen.SourceAddrs, []int{1, 100, 1000, 10000, 100000}},
	{"mix", rulegen.Mix, []int{1, 100, 1000, 10000, 100000}},
}

// BenchmarkDaemonMemory: the memory one chain costs the daemon, per size
// and shape. Every iteration sets the chain through State.ChainSet in
// standard mode (real engine and backend, pinned under a private bpffs,
// context saved) attached to XDP on a veth inside a test network
// namespace, then flushes it; one chain of each shape is set and flushed
// first, untimed, so one-time costs are not charged to the first size.
// Reported per chain:
//
//   - heap-B: the Go heap the daemon keeps for the chain: HeapAlloc after
//     forced GCs with the chain in force minus the same figure before the
//     chain was generated. HeapAlloc after GC counts live objects only (the IR clone, the backend's program and layouts, the
//     engine's handles); VmRSS is not used because it also holds heap
//     the runtime has not yet returned to the kernel and garbage from the
//     compile, so it depends on GC timing rather than on the chain.
//   - kernel-B: the sum of the memlock figures the kernel gives (fdinfo)
//     for every map and program of the chain's collection: what the chain
//     charges to the kernel, outside the daemon's address space.
//
// Both are also given per rule.
func BenchmarkDaemonMemory(b *testing.B) {
	testenv.RequireBPF(b)
	testenv.RequireCommand(b, "ip")
	ns := testenv.NewNetns(b)
	peerNs := testenv.NewNetns(b)
	veth := testenv.NewVethPair(b, ns, peerNs, "198.18.0.1/24", "198.18.0.2/24")
	peer, err := newNetnsPeer(ns.Path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(peer.close)
	bpffs := testenv.NewBPFFS(b)
	run := filepath.Join(b.TempDir(), "run")
	pinRoot := filepath.Join(bpffs, "bpfilter")
	for _, d := range []string{run, pinRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	s := NewState(StateConfig{Loader: EngineLoader{}, PinRoot: pinRoot, ContextFile: filepath.Join(run, ContextFileName)})
	b.Cleanup(func() {
		if err := s.RulesetFlush("cli"); err != nil {
			b.Errorf("flush: %v", err)
		}
	})
	// Warm up: the first chain loads what every later one shares (the
	// kernel's BTF, the runtime's caches); that one-time cost is not a
	// chain's.
	for _, sh := range memShapes {
		if _, _, err := chainMemory(s, peer, sh.kind, 1, veth.NameA); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	for _, sh := range memShapes {
		for _, n := range sh.sizes {
			b.Run(fmt.Sprintf("%s/rules=%d", sh.name, n), func(b *testing.B) {
				var heap, kern float64
				for i := 0; i < b.N; i++ {
					h, k, err := chainMemory(s, peer, sh.kind, n, veth.NameA)
					if err != nil {
						b.Fatal(err)
					}
					heap += float64(h)
					kern += float64(k)
				}
				heap /= float64(b.N)
				kern /= float64(b.N)
				b.ReportMetric(heap, "heap-B")
				b.ReportMetric(kern, "kernel-B")
				b.ReportMetric(heap/float64(n), "heap-B/rule")
				b.ReportMetric(kern/float64(n), "kernel-B/rule")
			})
		}
	}
}

// chainMemory sets one generated chain of n rules attached to XDP on iface,
// measures it (see BenchmarkDaemonMemory) and flushes it.
func chainMemory(s *State, peer Peer, k rulegen.Kind, n int, iface string) (heap int64, kern uint64, err error) {
	before := heapAfterGC()
	c, err := rulegen.Generate(rulegen.Config{Kind: k, Rules: n, Seed: 1, Place: rulegen.Middle, Probe: rulegen.DefaultProbe()})
	if err != nil {
		return 0, 0, fmt.Errorf("rulegen: %w", err)
	}
	c.Name = "mem"
	c.Hook = ir.HookXDP
	c.HookOpts = ir.HookOpts{Iface: iface}
	if err := s.ChainSet("cli", c, peer, false); err != nil {
		return 0, 0, fmt.Errorf("chain set, %d rules: %w", n, err)
	}
	c = nil // the daemon keeps its own clone; the request is garbage
	defer func() {
		if ferr := s.ChainFlush("cli", "mem"); ferr != nil {
			err = errors.Join(err, fmt.Errorf("chain flush: %w", ferr))
		}
	}()
	s.mu.Lock()
	e := s.chains["mem"]
	s.mu.Unlock()
	if e == nil || !e.Attached {
		return 0, 0, fmt.Errorf("chain mem not in force after chain set: %+v", e)
	}
	heap = int64(heapAfterGC()) - int64(before)
	ep, ok := e.prog.(*engineProgram)
	if !ok || ep.c == nil {
		return 0, 0, fmt.Errorf("chain mem: program %T is not a live engine program", e.prog)
	}
	kern, err = collectionMemlock(ep.c.Collection())
	return heap, kern, err
}

// heapAfterGC returns the bytes of live heap objects after two full GCs:
// the second empties the sync.Pool victim caches the first one leaves
// (encoding/json keeps its last, context-sized, buffer there), which are
// not the chain's.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// collectionMemlock sums the kernel's memlock figure of every map and
// program of coll.
func collectionMemlock(coll *ebpf.Collection) (uint64, error) {
	var sum uint64
	for name, m := range coll.Maps {
		info, err := m.Info()
		if err != nil {
			return 0, fmt.Errorf("map %s info: %w", name, err)
		}
		v, ok := info.Memlock()
		if !ok {
			return 0, fmt.Errorf("map %s: the kernel gives no memlock figure", name)
		}
		sum += v
	}
	for name, p := range coll.Programs {
		info, err := p.Info()
		if err != nil {
			return 0, fmt.Errorf("program %s info: %w", name, err)
		}
		v, ok := info.Memlock()
		if !ok {
			return 0, fmt.Errorf("program %s: the kernel gives no memlock figure", name)
		}
		sum += v
	}
	return sum, nil
}

// newNetnsPeer is a Peer in the network namespace at path, as seen by this
// process (its paths are the test process's own).
func newNetnsPeer(path string) (*procPeer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	ino, err := nsInode(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	self, err := selfNetnsID()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &procPeer{pid: os.Getpid(), netns: f, ino: ino, self: self}, nil
}
