package daemon

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/bpfilter-go/bpfilter/backend"
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
	return out, nil
}

func (p *engineProgram) ReadLogs(ctx context.Context, fn func(proto.LogEntry)) error {
	if p.c == nil {
		return errSpent
	}
	return p.c.ReadLogs(ctx, func(e backend.LogEntry) {
		data, err := json.Marshal(e)
		if err != nil {
			data = nil
		}
		fn(proto.LogEntry{Text: e.String(), Data: data})
	})
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
