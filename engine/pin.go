package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Pins of a chain directory: the program and each map under their own
// names, and the attachment's links (see bpf.Attachment.Pin).

func (o Options) pinPath(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("empty pin directory")
	}
	if filepath.IsAbs(dir) {
		return dir, nil
	}
	if o.BPFFS == "" {
		return "", fmt.Errorf("relative pin directory %q and no bpffs root in Options.BPFFS", dir)
	}
	return filepath.Join(o.BPFFS, dir), nil
}

// Pin pins the chain's program, maps and links in dir (relative
// directories are below Options.BPFFS), so Restore can pick the chain up
// after a restart. Close removes the pins.
func (c *Chain) Pin(dir string) error {
	if c.coll == nil {
		return fmt.Errorf("engine: pin chain %s: chain is closed", c.IR.Name)
	}
	path, err := c.opts.pinPath(dir)
	if err != nil {
		return fmt.Errorf("engine: pin chain %s: %w", c.IR.Name, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("engine: pin chain %s: %w", c.IR.Name, err)
	}
	if err := pinCollection(c.coll, path); err != nil {
		return fmt.Errorf("engine: pin chain %s: %w", c.IR.Name, err)
	}
	if c.att != nil {
		if err := c.att.Pin(path); err != nil {
			return fmt.Errorf("engine: pin chain %s: %w", c.IR.Name, err)
		}
	}
	c.pinDir = path
	return nil
}

// PinDir returns the directory the chain is pinned in ("" when not).
func (c *Chain) PinDir() string { return c.pinDir }

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func pinCollection(coll *ebpf.Collection, dir string) error {
	for _, name := range sortedNames(coll.Programs) {
		if err := coll.Programs[name].Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pin program %s: %w", name, err)
		}
	}
	for _, name := range sortedNames(coll.Maps) {
		if err := coll.Maps[name].Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pin map %s: %w", name, err)
		}
	}
	return nil
}

func unpinCollection(coll *ebpf.Collection) error {
	var errs []error
	for _, name := range sortedNames(coll.Programs) {
		if err := coll.Programs[name].Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin program %s: %w", name, err))
		}
	}
	for _, name := range sortedNames(coll.Maps) {
		if err := coll.Maps[name].Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin map %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// unpin removes the program and map pins and the directory when empty
// (the attachment removes its own pins).
func (c *Chain) unpin() error {
	var errs []error
	if c.coll != nil {
		errs = append(errs, unpinCollection(c.coll))
	}
	if err := os.Remove(c.pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove pin directory: %w", err))
	}
	c.pinDir = ""
	return errors.Join(errs...)
}

// Restore re-opens a chain pinned in dir by Pin: c must be the chain that
// was pinned (it is compiled again, without loading, to know the layout of
// its maps, which must match the pins). Links pinned in dir are re-opened
// too, so the chain keeps filtering without a gap; for netfilter hooks call
// Restore in the chain's network namespace.
func Restore(dir string, c *ir.Chain, opts Options) (*Chain, error) {
	if c == nil {
		return nil, errors.New("engine: restore nil chain")
	}
	path, err := opts.pinPath(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: restore chain %s: %w", c.Name, err)
	}
	if err := checkNotUpdated(path); err != nil {
		return nil, fmt.Errorf("engine: restore chain %s from %s: %w", c.Name, path, err)
	}
	p, err := opts.compile(c, opts.backendOptions(nil))
	if err != nil {
		return nil, fmt.Errorf("engine: restore: %w", err)
	}
	coll := &ebpf.Collection{Programs: map[string]*ebpf.Program{}, Maps: map[string]*ebpf.Map{}}
	fail := func(err error) (*Chain, error) {
		coll.Close()
		return nil, fmt.Errorf("engine: restore chain %s from %s: %w", c.Name, path, err)
	}
	for name, ps := range p.Spec.Programs {
		prog, err := ebpf.LoadPinnedProgram(filepath.Join(path, name), nil)
		if err != nil {
			return fail(err)
		}
		coll.Programs[name] = prog
		if prog.Type() != ps.Type {
			return fail(fmt.Errorf("pinned program %s is a %s program, chain needs %s", name, prog.Type(), ps.Type))
		}
	}
	for name, ms := range p.Spec.Maps {
		if name == backend.VerboseMap {
			continue // below
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(path, name), nil)
		if err != nil {
			return fail(err)
		}
		coll.Maps[name] = m
		if err := ms.Compatible(m); err != nil {
			return fail(fmt.Errorf("pinned map %s does not match the chain: %w", name, err))
		}
	}
	// The message map of backend.Options.VerboseBPF is there when the
	// pinned program was compiled with it, whatever opts say now (the
	// daemon may restart with another --verbose): it is opened when
	// pinned, so that it is unpinned with the chain.
	if m, err := ebpf.LoadPinnedMap(filepath.Join(path, backend.VerboseMap), nil); err == nil {
		coll.Maps[backend.VerboseMap] = m
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	ch, err := newChain(c, p, coll, opts)
	if err != nil {
		return fail(err)
	}
	ch.pinDir = path
	if _, err := os.Stat(filepath.Join(path, bpf.LinkPinNames(c.Hook)[0])); err == nil {
		att, err := bpf.LoadPinnedAttachment(path, c.Hook, c.HookOpts)
		if err != nil {
			return fail(err)
		}
		ch.att = att
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	return ch, nil
}
