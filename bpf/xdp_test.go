package bpf_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestXDPFallsBackToGeneric attaches to a bridge, whose driver has no
// native XDP: the attachment must fall back to generic mode and say why.
func TestXDPFallsBackToGeneric(t *testing.T) {
	coll := loadCounting(t, ir.HookXDP)
	ns := testenv.NewNetns(t)
	ns.Exec(t, "ip", "link", "add", "bfbridge0", "type", "bridge")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	var a *bpf.Attachment
	if err := ns.Do(func() error {
		var err error
		a, err = bpf.Attach(coll.Programs["v1"], ir.HookXDP, ir.HookOpts{Iface: "bfbridge0"}, bpf.AttachOptions{Logger: logger})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	}()
	if a.XDPMode != bpf.XDPModeGeneric {
		t.Errorf("XDP on a bridge attached in %q mode, want generic", a.XDPMode)
	}
	if !strings.Contains(logs.String(), "falling back to generic mode") || !strings.Contains(logs.String(), "reason=") {
		t.Errorf("fallback not logged with its reason: %q", logs.String())
	}
	if err := a.Update(coll.Programs["v2"]); err != nil {
		t.Errorf("update of a generic-mode XDP link: %v", err)
	}
}
