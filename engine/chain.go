// Package engine runs one chain's life in the kernel: compile (backend) →
// load (bpf) → attach → replace atomically → read counters and logs → pin
// and restore → close. It never generates code and never parses rules.
package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Options control how chains are compiled, loaded and pinned.
type Options struct {
	// BPFFS is the pin root: Pin and Restore resolve relative directories
	// below it.
	BPFFS string
	// Verbose keeps the verifier log of every load (Chain.VerifierLog).
	Verbose bool
	// VerboseBPF makes the programs print a message to the kernel's trace
	// buffer when a kernel call they make fails (backend.Options.VerboseBPF,
	// bpfilter --verbose=bpf).
	VerboseBPF bool
	// DumpBytecode, when set, receives the generated instructions.
	DumpBytecode io.Writer
	// Token is the BPF token to check loads against (see bpf.Token).
	Token *bpf.Token
	// LogSizePow sets the verifier log size to 1<<LogSizePow bytes (0:
	// bpf.DefaultLogSizePow).
	LogSizePow uint8
	// KernelBTF is the kernel BTF the backend compiles netfilter programs
	// against (nil: the running kernel's).
	KernelBTF *btf.Spec
	// Logger receives notices such as the XDP generic-mode fallback.
	Logger *slog.Logger
	// LogRingSize and SetMinEntries are passed to the backend (see
	// backend.Options); Restore must be given the values the chain was
	// loaded with.
	LogRingSize   uint32
	SetMinEntries uint32
	// FreshCounters, on a chain passed to Replace, starts its counters at
	// zero (upstream "bfcli chain update" behaviour) instead of carrying
	// over those of unchanged rules (the default, see Replace).
	FreshCounters bool
	// CounterHeadroom is the number of spare rule counter slots (rule IDs)
	// a loaded chain gets, so that Update can insert rules without a
	// reload: 0 means len(rules)/8 + 16, negative none. Chains that inline
	// user chains (Ruleset) get none.
	CounterHeadroom int
	// Ruleset holds the user chains a chain's JUMP and GOTO rules reach
	// (iptables); they are inlined (backend.CompileInRuleset). Nil: such
	// rules are refused.
	Ruleset *ir.Ruleset
}

// Chain is one chain loaded in the kernel, attached or not. A Chain is
// not safe for concurrent use, except that ReadLogs may run alongside the
// other methods until Close or Replace.
type Chain struct {
	// IR is the chain the program was compiled from.
	IR *ir.Chain
	// Program is the backend's output (counter layout, set maps).
	Program *backend.Program
	// VerifierLog is the verifier log of bf_prog when Options.Verbose was
	// set.
	VerifierLog string

	opts   Options
	coll   *ebpf.Collection
	prog   *ebpf.Program
	att    *bpf.Attachment
	pinDir string // "" when not pinned
}

// Load compiles c and loads its program and maps; the chain is not
// attached.
func Load(c *ir.Chain, opts Options) (*Chain, error) {
	if c == nil {
		return nil, errors.New("engine: load nil chain")
	}
	p, err := opts.compile(c, opts.backendOptions(opts.DumpBytecode))
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	spec, deferred := deferContents(p.Spec)
	coll, err := bpf.Load(spec, bpf.LoadOptions{Verbose: opts.Verbose, LogSizePow: opts.LogSizePow, Token: opts.Token})
	if err != nil {
		return nil, fmt.Errorf("engine: chain %s: %w", c.Name, err)
	}
	if err := populate(coll, deferred); err != nil {
		coll.Close()
		return nil, fmt.Errorf("engine: chain %s: %w", c.Name, err)
	}
	ch, err := newChain(c, p, coll, opts)
	if err != nil {
		coll.Close()
		return nil, err
	}
	ch.VerifierLog = ch.prog.VerifierLog
	return ch, nil
}

// backendOptions are the compile options of o, with dump as the bytecode
// dump writer.
func (o Options) backendOptions(dump io.Writer) backend.Options {
	return backend.Options{
		DumpBytecode:  dump,
		KernelBTF:     o.KernelBTF,
		LogRingSize:   o.LogRingSize,
		SetMinEntries: o.SetMinEntries,
		VerboseBPF:    o.VerboseBPF,
	}
}

func newChain(c *ir.Chain, p *backend.Program, coll *ebpf.Collection, opts Options) (*Chain, error) {
	prog := coll.Programs[backend.ProgramName]
	if prog == nil {
		return nil, fmt.Errorf("engine: chain %s: collection has no program %s", c.Name, backend.ProgramName)
	}
	if coll.Maps[backend.CountersMap] == nil {
		return nil, fmt.Errorf("engine: chain %s: collection has no map %s", c.Name, backend.CountersMap)
	}
	return &Chain{IR: c, Program: p, opts: opts, coll: coll, prog: prog}, nil
}

// LoadAndAttach loads c and, when it has hook options, attaches it with
// them; a chain without hook options is loaded but not attached. Call it
// from the network namespace the chain belongs to.
func LoadAndAttach(c *ir.Chain, opts Options) (*Chain, error) {
	ch, err := Load(c, opts)
	if err != nil {
		return nil, err
	}
	if c.HookOpts.IsZero() {
		return ch, nil
	}
	if err := ch.Attach(c.HookOpts); err != nil {
		return nil, errors.Join(err, ch.Close())
	}
	return ch, nil
}

// Attach attaches the chain's program with its hook's mechanism. XDP and
// TC interfaces given by name, and netfilter hooks, are resolved in the
// network namespace of the calling thread: lock the OS thread and enter
// the namespace before calling.
func (c *Chain) Attach(opts ir.HookOpts) error {
	if c.prog == nil {
		return fmt.Errorf("engine: attach chain %s: chain is closed", c.IR.Name)
	}
	if c.att != nil {
		return fmt.Errorf("engine: attach chain %s: already attached to %s", c.IR.Name, c.att.Hook)
	}
	att, err := bpf.Attach(c.prog, c.IR.Hook, opts, bpf.AttachOptions{Logger: c.opts.Logger})
	if err != nil {
		return fmt.Errorf("engine: chain %s: %w", c.IR.Name, err)
	}
	c.att = att
	if c.pinDir != "" {
		if err := att.Pin(c.pinDir); err != nil {
			return fmt.Errorf("engine: chain %s: %w", c.IR.Name, err)
		}
	}
	return nil
}

// Attachment returns the chain's attachment, nil when not attached.
func (c *Chain) Attachment() *bpf.Attachment { return c.att }

// Collection returns the loaded program and maps (nil once closed).
func (c *Chain) Collection() *ebpf.Collection { return c.coll }

// Close detaches the chain, unloads it and removes its pins.
func (c *Chain) Close() error {
	var errs []error
	if c.att != nil {
		if err := c.att.Close(); err != nil {
			errs = append(errs, err)
		}
		c.att = nil
	}
	if c.pinDir != "" {
		if err := c.unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.coll != nil {
		c.coll.Close()
		c.coll, c.prog = nil, nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: close chain %s: %w", c.IR.Name, err)
	}
	return nil
}

// Release closes the chain's file descriptors but keeps its pins, so a
// pinned chain goes on filtering after the process exits (Restore picks
// it up again). An unpinned chain is detached and unloaded.
func (c *Chain) Release() error {
	var errs []error
	if c.att != nil {
		errs = append(errs, c.att.Release())
		c.att = nil
	}
	if c.coll != nil {
		c.coll.Close()
		c.coll, c.prog = nil, nil
	}
	c.pinDir = ""
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: release chain %s: %w", c.IR.Name, err)
	}
	return nil
}
