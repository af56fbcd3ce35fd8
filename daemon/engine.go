package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// EngineLoader is the production Loader: chains run by package engine.
type EngineLoader struct {
	Options engine.Options
}

// Load compiles and loads c.
func (l EngineLoader) Load(c *ir.Chain) (Program, error) {
	ch, err := engine.Load(c, l.Options)
	if err != nil {
		return nil, err
	}
	if l.Options.Verbose && l.Options.Logger != nil && ch.VerifierLog != "" {
		l.Options.Logger.Debug("verifier log", "chain", c.Name, "log", ch.VerifierLog)
	}
	return &engineProgram{c: ch}, nil
}

// Restore re-opens a chain pinned in dir.
func (l EngineLoader) Restore(dir string, c *ir.Chain) (Program, error) {
	ch, err := engine.Restore(dir, c, l.Options)
	if err != nil {
		return nil, err
	}
	return &engineProgram{c: ch}, nil
}

// engineProgram adapts engine.Chain to Program. After a successful
// Replace the receiver's engine.Chain holds the new program; the adapter
// hands it to next so that entries keep matching their programs.
type engineProgram struct {
	c *engine.Chain
}

var errSpent = errors.New("the chain was replaced")

func (p *engineProgram) Attach(opts ir.HookOpts) error {
	if p.c == nil {
		return errSpent
	}
	return p.c.Attach(opts)
}

func (p *engineProgram) Replace(next Program) error {
	n, ok := next.(*engineProgram)
	if !ok || n.c == nil || p.c == nil {
		return errors.New("replace: both chains must be loaded engine chains")
	}
	if err := p.c.Replace(n.c); err != nil {
		return err
	}
	n.c, p.c = p.c, nil
	return nil
}

func (p *engineProgram) Counters() (proto.Counters, error) {
	if p.c == nil {
		return proto.Counters{}, errSpent
	}
	ec, err := p.c.Counters()
	if err != nil {
		return proto.Counters{}, err
	}
	out := proto.Counters{
		Rules:  make([]proto.Counter, len(ec.Rules)),
		Policy: proto.Counter(ec.Policy),
		Errors: proto.Counter(ec.Errors),
	}
	for i, r := range ec.Rules {
		out.Rules[i] = proto.Counter(r)
	}
	for name, rs := range ec.User {
		if out.User == nil {
			out.User = map[string][]proto.Counter{}
		}
		for _, r := range rs {
			out.User[name] = append(out.User[name], proto.Counter(r))
		}
	}
	return out, nil
}

// OpenLogs opens a reader on the chain's log ring buffer. It reads the
// ring buffer itself rather than through engine.Chain.ReadLogs so that the
// reader is set up while the daemon holds its lock (ReadLogs looks up the
// map when it starts, which would race with a concurrent Replace).
func (p *engineProgram) OpenLogs() (func(context.Context, func(proto.LogEntry)) error, error) {
	if p.c == nil {
		return nil, errSpent
	}
	coll := p.c.Collection()
	if coll == nil || coll.Maps[backend.LogMap] == nil {
		return nil, fmt.Errorf("chain %s has no log map", p.c.IR.Name)
	}
	rd, err := ringbuf.NewReader(coll.Maps[backend.LogMap])
	if err != nil {
		return nil, fmt.Errorf("opening the log ring buffer: %w", err)
	}
	return func(ctx context.Context, fn func(proto.LogEntry)) error {
		stop := context.AfterFunc(ctx, func() { rd.Close() })
		defer func() {
			if stop() {
				rd.Close()
			}
		}()
		var rec ringbuf.Record
		for {
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, os.ErrClosed) && ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("reading the log ring buffer: %w", err)
			}
			e, err := backend.DecodeLogRecord(rec.RawSample)
			if err != nil {
				return fmt.Errorf("decoding a log record: %w", err)
			}
			data, err := json.Marshal(e)
			if err != nil {
				data = nil
			}
			fn(proto.LogEntry{Text: e.String(), Data: data})
		}
	}, nil
}

func (p *engineProgram) Pin(dir string) error {
	if p.c == nil {
		return errSpent
	}
	return p.c.Pin(dir)
}

func (p *engineProgram) Close() error {
	if p.c == nil {
		return nil
	}
	err := p.c.Close()
	p.c = nil
	return err
}

func (p *engineProgram) Release() error {
	if p.c == nil {
		return nil
	}
	err := p.c.Release()
	p.c = nil
	return err
}

// Repair rebuilds the pin directory of an attached chain whose program and
// map pins are missing while its links are still pinned: what a daemon
// killed inside an in-place swap leaves (engine Replace unpins the old
// program and maps, then pins the new ones). c is loaded again, swapped
// into the pinned links and pinned in dir, so Restore(dir, c) works. Call
// it in the chain's network namespace.
func (l EngineLoader) Repair(dir string, c *ir.Chain) error {
	if _, err := os.Stat(filepath.Join(dir, backend.ProgramName)); err == nil {
		return fmt.Errorf("%s still has its program pin: nothing to repair", dir)
	}
	att, err := bpf.LoadPinnedAttachment(dir, c.Hook, c.HookOpts)
	if err != nil {
		return fmt.Errorf("re-opening the links pinned in %s: %w", dir, err)
	}
	defer att.Release()
	links := map[string]bool{}
	for _, n := range bpf.LinkPinNames(c.Hook) {
		links[n] = true
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if !links[de.Name()] {
			// A map pinned again before the interruption.
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
				return fmt.Errorf("removing a stale pin: %w", err)
			}
		}
	}
	ch, err := engine.Load(c, l.Options)
	if err != nil {
		return err
	}
	if err := att.Update(ch.Collection().Programs[backend.ProgramName]); err != nil {
		ch.Close()
		return fmt.Errorf("swapping the reloaded chain into the pinned links: %w", err)
	}
	if err := ch.Pin(dir); err != nil {
		ch.Release()
		return err
	}
	return ch.Release()
}

// PrepareUpdate plans an in-place update of the chain (see updater).
func (p *engineProgram) PrepareUpdate(next *ir.Chain) (inPlace, string, error) {
	if p.c == nil {
		return nil, "", errSpent
	}
	pu, reason, err := p.c.PrepareUpdate(next)
	if pu == nil {
		return nil, reason, err
	}
	return pu, "", nil
}

// Slots returns the program's counter slots.
func (p *engineProgram) Slots() engine.Slots { return p.c.Slots() }

// Reload replaces the pinned program in dir, which the engine refuses to
// restore (changed in place), by c loaded from its IR (see reloader). The
// pinned counters are read at slots first.
func (l EngineLoader) Reload(dir string, slots engine.Slots, c *ir.Chain) (Program, proto.Counters, error) {
	ec, err := engine.PinnedCounters(dir, slots, l.Options)
	if err != nil {
		return nil, proto.Counters{}, err
	}
	kc := proto.Counters{Rules: make([]proto.Counter, len(ec.Rules)), Policy: proto.Counter(ec.Policy), Errors: proto.Counter(ec.Errors)}
	for i, r := range ec.Rules {
		kc.Rules[i] = proto.Counter(r)
	}
	ch, err := engine.Load(c, l.Options)
	if err != nil {
		return nil, proto.Counters{}, err
	}
	links := map[string]bool{}
	for _, n := range bpf.LinkPinNames(c.Hook) {
		links[n] = true
	}
	if _, err := os.Stat(filepath.Join(dir, bpf.LinkPinNames(c.Hook)[0])); err == nil {
		att, err := bpf.LoadPinnedAttachment(dir, c.Hook, c.HookOpts)
		if err != nil {
			ch.Close()
			return nil, proto.Counters{}, fmt.Errorf("re-opening the links pinned in %s: %w", dir, err)
		}
		err = att.Update(ch.Collection().Programs[backend.ProgramName])
		att.Release()
		if err != nil {
			ch.Close()
			return nil, proto.Counters{}, fmt.Errorf("swapping the reloaded chain into the pinned links: %w", err)
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		ch.Release()
		return nil, proto.Counters{}, err
	}
	for _, de := range des {
		if !links[de.Name()] {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
				ch.Release()
				return nil, proto.Counters{}, fmt.Errorf("removing the pins of the changed program: %w", err)
			}
		}
	}
	if err := ch.Pin(dir); err != nil {
		ch.Release()
		return nil, proto.Counters{}, err
	}
	if err := ch.Release(); err != nil {
		return nil, proto.Counters{}, err
	}
	prog, err := l.Restore(dir, c)
	if err != nil {
		return nil, proto.Counters{}, err
	}
	return prog, kc, nil
}
