package daemon

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// TestRejectAsDropConfig: the flag is off by default, parsed, listed in
// --help and --usage, and makes REJECT's revision available.
func TestRejectAsDropConfig(t *testing.T) {
	def, err := ParseFlags(nil, nil)
	if err != nil || def.IptablesRejectAsDrop {
		t.Fatalf("default: %+v %v", def, err)
	}
	cfg, err := ParseFlags([]string{"--iptables-reject-as-drop"}, nil)
	if err != nil || !cfg.IptablesRejectAsDrop {
		t.Fatalf("--iptables-reject-as-drop: %+v %v", cfg, err)
	}
	for _, flag := range []string{"--help", "--usage"} {
		var out bytes.Buffer
		if _, err := ParseFlags([]string{flag}, &out); !errors.Is(err, ErrExit) || !strings.Contains(out.String(), "--iptables-reject-as-drop") {
			t.Errorf("%s does not show the flag: %q", flag, out.String())
		}
	}
	for _, on := range []bool{false, true} {
		s := NewState(StateConfig{IptablesRejectAsDrop: on})
		for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
			best, err := s.iptRevision(fam, true, revisionReq("REJECT", 0))
			var pe *Error
			switch {
			case on && (err != nil || best != 0):
				t.Errorf("%s with the flag: revision %d, %v", fam, best, err)
			case !on && (!errors.As(err, &pe) || pe.Errno != proto.ENOENT):
				t.Errorf("%s without the flag: %v, want ENOENT", fam, err)
			}
			if _, err := s.iptRevision(fam, true, revisionReq("MARK", 0)); err == nil {
				t.Errorf("%s: MARK is available", fam)
			}
		}
	}
}
