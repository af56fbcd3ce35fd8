package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestVerboseBPF: Options.VerboseBPF reaches the backend (the loaded
// collection has the message map, and not without it), and a chain
// pinned with one setting is restored with the other, its message map
// unpinned with it on Close.
func TestVerboseBPF(t *testing.T) {
	testenv.RequireBPF(t)
	src := `chain vb BF_HOOK_XDP ACCEPT rule ip4.proto icmp log transport DROP`
	for _, pinned := range []bool{true, false} {
		fs := testenv.NewBPFFS(t)
		c, err := engine.Load(parseChain(t, src), engine.Options{BPFFS: fs, VerboseBPF: pinned})
		if err != nil {
			t.Fatal(err)
		}
		_, inSpec := c.Program.Spec.Maps[backend.VerboseMap]
		_, loaded := c.Collection().Maps[backend.VerboseMap]
		if inSpec != pinned || loaded != pinned {
			c.Close()
			t.Fatalf("VerboseBPF %v: message map compiled %v, loaded %v", pinned, inSpec, loaded)
		}
		if err := c.Pin("vb"); err != nil {
			c.Close()
			t.Fatal(err)
		}
		if err := c.Release(); err != nil {
			t.Fatal(err)
		}
		r, err := engine.Restore("vb", parseChain(t, src), engine.Options{BPFFS: fs, VerboseBPF: !pinned})
		if err != nil {
			t.Fatalf("pinned with VerboseBPF %v, restore with %v: %v", pinned, !pinned, err)
		}
		if _, ok := r.Collection().Maps[backend.VerboseMap]; ok != pinned {
			t.Errorf("pinned with VerboseBPF %v: restored chain has the message map: %v", pinned, ok)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(fs, "vb")); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(filepath.Join(fs, "vb"))
			t.Errorf("pinned with VerboseBPF %v: pin directory left after Close (%v): %v", pinned, err, entries)
		}
	}
}
