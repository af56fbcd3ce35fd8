package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// fakeKernel is an in-memory model of the kernel objects the engine manages,
// for unit tests of the daemon logic: programs, links occupying attach
// points, and pins as real files under a directory, so a simulated process
// death keeps exactly what is pinned.
type fakeKernel struct {
	mu     sync.Mutex
	nextID int
	progs  map[int]*fakeProg
	links  map[int]*fakeLink
	// attached maps an attach point to the link there.
	attached map[string]*fakeLink
	// failures, keyed by chain name.
	failLoad, failAttach, failReplace map[string]error
	loads                             int
	// netns is the network namespace the current fakePeer.InNetns call
	// runs in (0: the default one).
	netns uint64
	// inPlace enables in-place updates (fake_inplace_test.go); failUpdate
	// fails them, midUpdate runs in the middle of the writes; updates
	// counts them.
	inPlace    bool
	failUpdate error
	midUpdate  func()
	updates    int
}

type fakeLink struct {
	id   int
	key  string
	prog *fakeProg
}

type fakeProg struct {
	k        *fakeKernel
	id       int
	chain    *ir.Chain
	link     *fakeLink
	counters proto.Counters
	logs     chan proto.LogEntry
	closed   bool
	spent    bool
	pinDir   string
	// marked: changed in place with insertions or deletions.
	marked bool
	// slots are the counter slots of the rules after an in-place update
	// (nil: by index).
	slots []uint32
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		progs: map[int]*fakeProg{}, links: map[int]*fakeLink{}, attached: map[string]*fakeLink{},
		failLoad: map[string]error{}, failAttach: map[string]error{}, failReplace: map[string]error{},
	}
}

func attachPoint(h ir.Hook, o ir.HookOpts) string { return h.String() + "{" + o.String() + "}" }

func (k *fakeKernel) Load(c *ir.Chain) (Program, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.failLoad[c.Name]; err != nil {
		return nil, err
	}
	k.nextID++
	k.loads++
	p := &fakeProg{k: k, id: k.nextID, chain: c.Clone(), logs: make(chan proto.LogEntry, 16),
		counters: proto.Counters{Rules: make([]proto.Counter, len(c.Rules))}}
	k.progs[p.id] = p
	return p, nil
}

func (k *fakeKernel) Restore(dir string, c *ir.Chain) (Program, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id, err := readID(filepath.Join(dir, "prog"))
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	p := k.progs[id]
	if p == nil || p.closed {
		return nil, fmt.Errorf("restore: program %d is gone", id)
	}
	if p.marked {
		return nil, fmt.Errorf("restore: %w", engine.ErrUpdated)
	}
	if !reflect.DeepEqual(stripOrigins(p.chain), stripOrigins(c)) {
		return nil, fmt.Errorf("restore: pinned program %d runs another chain", id)
	}
	p.link = nil
	p.pinDir = dir
	if lid, err := readID(filepath.Join(dir, "link")); err == nil {
		p.link = k.links[lid]
	}
	return p, nil
}

func stripOrigins(c *ir.Chain) *ir.Chain {
	c = c.Clone()
	c.Origin = ir.Origin{}
	for _, r := range c.Rules {
		r.Origin = ir.Origin{}
	}
	return c
}

func readID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func (p *fakeProg) Attach(o ir.HookOpts) error {
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.failAttach[p.chain.Name]; err != nil {
		return err
	}
	key := attachPoint(p.chain.Hook, o)
	if k.netns != 0 && k.netns != 7 && !strings.HasPrefix(p.chain.Hook.String(), "BF_HOOK_CGROUP") {
		key = fmt.Sprintf("netns%d:%s", k.netns, key)
	}
	if k.attached[key] != nil {
		if exclusive(p.chain.Hook) {
			return fmt.Errorf("attach point %s is busy", key)
		}
		// TCX and cgroup links stack.
		key = fmt.Sprintf("%s#%d", key, k.nextID+1)
	}
	k.nextID++
	l := &fakeLink{id: k.nextID, key: key, prog: p}
	k.links[l.id] = l
	k.attached[key] = l
	p.link = l
	return nil
}

func (p *fakeProg) Replace(next Program) error {
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	n := next.(*fakeProg)
	if err := k.failReplace[n.chain.Name]; err != nil {
		return err
	}
	if p.spent || p.closed || n.link != nil || n.pinDir != "" {
		return errors.New("replace: bad state")
	}
	// Carry counters as the engine does.
	for j, i := range matchRules(p.chain, n.chain) {
		if i >= 0 {
			n.counters.Rules[j] = p.counters.Rules[i]
		}
	}
	n.counters.Policy, n.counters.Errors = p.counters.Policy, p.counters.Errors
	if p.link != nil {
		p.link.prog = n
		n.link, p.link = p.link, nil
	}
	if p.pinDir != "" {
		if err := os.WriteFile(filepath.Join(p.pinDir, "prog"), []byte(strconv.Itoa(n.id)), 0o600); err != nil {
			return err
		}
		n.pinDir, p.pinDir = p.pinDir, ""
	}
	p.spent = true
	delete(k.progs, p.id)
	return nil
}

func (p *fakeProg) Counters() (proto.Counters, error) {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	if p.closed {
		return proto.Counters{}, errors.New("closed")
	}
	c := p.counters
	c.Rules = append([]proto.Counter(nil), c.Rules...)
	return c, nil
}

func (p *fakeProg) OpenLogs() (func(context.Context, func(proto.LogEntry)) error, error) {
	return func(ctx context.Context, fn func(proto.LogEntry)) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case e := <-p.logs:
				fn(e)
			}
		}
	}, nil
}

func (p *fakeProg) Pin(dir string) error {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte(strconv.Itoa(p.id)), 0o600); err != nil {
		return err
	}
	p.pinDir = dir
	if p.link != nil {
		return os.WriteFile(filepath.Join(dir, "link"), []byte(strconv.Itoa(p.link.id)), 0o600)
	}
	return nil
}

func (p *fakeProg) Close() error {
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if p.spent {
		return nil
	}
	if p.pinDir != "" {
		os.Remove(filepath.Join(p.pinDir, "prog"))
		os.Remove(filepath.Join(p.pinDir, "link"))
		p.pinDir = ""
	}
	if p.link != nil && p.link.prog == p {
		delete(k.attached, p.link.key)
		delete(k.links, p.link.id)
	}
	p.link = nil
	p.closed = true
	delete(k.progs, p.id)
	return nil
}

func (p *fakeProg) Release() error { return nil }

// hit counts packets on the program attached at the chain's attach point.
func (p *fakeProg) hit(rule int, n uint64) {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	if rule < 0 {
		p.counters.Policy.Packets += n
		return
	}
	p.counters.Rules[rule].Packets += n
}

// die simulates the death of the daemon process: objects only the process
// held go away; pinned ones (files under pinRoot) and what they reference
// stay.
func (k *fakeKernel) die(pinRoot string) { k.gc(pinRoot, nil) }

// gc frees what nothing refers to any more: objects neither pinned under
// pinRoot, nor held by a live handle (held), nor referenced by a live link.
func (k *fakeKernel) gc(pinRoot string, held []*fakeProg) {
	k.mu.Lock()
	defer k.mu.Unlock()
	progs, links := map[int]bool{}, map[int]bool{}
	for _, p := range held {
		progs[p.id] = true
		if p.link != nil {
			links[p.link.id] = true
		}
	}
	filepath.Walk(pinRoot, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		id, err := readID(path)
		if err != nil {
			return nil
		}
		switch filepath.Base(path) {
		case "prog":
			progs[id] = true
		case "link":
			links[id] = true
		}
		return nil
	})
	for id, l := range k.links {
		if !links[id] {
			delete(k.links, id)
			delete(k.attached, l.key)
			continue
		}
		progs[l.prog.id] = true
	}
	for id, p := range k.progs {
		if !progs[id] {
			p.closed = true
			delete(k.progs, id)
		}
	}
}

// inForce returns the chain whose program runs at an attach point.
func (k *fakeKernel) inForce(key string) *ir.Chain {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l := k.attached[key]; l != nil {
		return l.prog.chain
	}
	return nil
}

// fakePeer is a client in a made-up network namespace with a fixed set of
// interfaces; paths resolve under root.
type fakePeer struct {
	k      *fakeKernel
	netns  uint64
	ifaces map[string]uint32
	root   string
}

func (p *fakePeer) InNetns(fn func() error) error {
	p.k.mu.Lock()
	p.k.netns = p.netns
	p.k.mu.Unlock()
	defer func() {
		p.k.mu.Lock()
		p.k.netns = 0
		p.k.mu.Unlock()
	}()
	return fn()
}
func (p *fakePeer) NetnsID() uint64          { return p.netns }
func (p *fakePeer) HostPath(s string) string { return filepath.Join(p.root, filepath.Clean("/"+s)) }
func (p *fakePeer) LookupIface(name string, idx uint32) (uint32, error) {
	for n, i := range p.ifaces {
		if (name != "" && n == name) || (name == "" && i == idx) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no interface %q/%d", name, idx)
}

type fakeNamespaces struct{}

func (fakeNamespaces) InNetnsID(_ uint64, fn func() error) error { return fn() }
