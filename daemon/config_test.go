package daemon

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := ParseFlags([]string{"-t", "--no-cli", "--no-nftables", "--no-iptables", "--bpffs-path", "/x", "--runtime-dir", "/r",
		"-v", "debug", "--verbose=bytecode", "-v", "bpf", "-b", "20", "--socket-group", "65534"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Transient || !cfg.NoCLI || !cfg.NoNftables || !cfg.NoIptables || cfg.BPFFSPath != "/x" || cfg.RuntimeDir != "/r" ||
		!cfg.Verbose["debug"] || !cfg.Verbose["bytecode"] || !cfg.Verbose["bpf"] || cfg.BufferLenPow != 20 || cfg.SocketGroup != 65534 {
		t.Fatalf("parsed %+v", cfg)
	}
	def, err := ParseFlags(nil, nil)
	if err != nil || def.BPFFSPath != "/sys/fs/bpf" || def.RuntimeDir != "/run/bpfilter" || def.SocketGroup != -1 || def.Transient {
		t.Fatalf("defaults: %+v %v", def, err)
	}
	for _, bad := range [][]string{
		{"-b", "20"}, {"-v", "loud"}, {"-v", "debug", "-b", "99"}, {"--nope"}, {"extra"},
		{"--socket-group", "no-such-group-here"}, {"--runtime-dir", ""},
	} {
		if _, err := ParseFlags(bad, nil); err == nil || errors.Is(err, ErrExit) {
			t.Errorf("%q accepted", bad)
		}
	}
	for flag, want := range map[string]string{"--help": "--with-bpf-token", "-?": "--bpffs-path", "--usage": "Usage: bpfilter", "--version": "bpfilter-go"} {
		var out bytes.Buffer
		if _, err := ParseFlags([]string{flag}, &out); !errors.Is(err, ErrExit) || !strings.Contains(out.String(), want) {
			t.Errorf("%s: %v %q", flag, err, out.String())
		}
	}
}
