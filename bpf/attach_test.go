package bpf_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// contractEnv is the topology every contract case runs in: packet hooks
// are attached in Router, on its interface towards Client; cgroup hooks on
// a test cgroup whose commands run in Client.
type contractEnv struct {
	net *testenv.Routed
	cg  string
}

type traffic struct {
	name string
	run  func(e *contractEnv) error
}

func ping(name string, v6, toServer, inCgroup bool) traffic {
	return traffic{name, func(e *contractEnv) error {
		dst := e.net.Left.AddrB.Addr()
		switch {
		case v6 && toServer:
			dst = e.net.Right.Addr6B.Addr()
		case v6:
			dst = e.net.Left.Addr6B.Addr()
		case toServer:
			dst = e.net.Right.AddrB.Addr()
		}
		args := []string{"ping", "-c", "2", "-i", "0.2", "-W", "1", dst.String()}
		var err error
		if inCgroup {
			_, err = e.net.Client.RunInCgroup(e.cg, args...)
		} else {
			_, err = e.net.Client.Run(args...)
		}
		return err
	}}
}

func udp(name string, v6, connected bool) traffic {
	return traffic{name, func(e *contractEnv) error {
		dst := e.net.Left.AddrB.Addr()
		if v6 {
			dst = e.net.Left.Addr6B.Addr()
		}
		_, err := e.net.Client.RunInCgroup(e.cg, testenv.UDPSendCommand(netip.AddrPortFrom(dst, 9), 1, connected)...)
		return err
	}}
}

var (
	ping4       = ping("ping router v4", false, false, false)
	ping6       = ping("ping router v6", true, false, false)
	pingServer4 = ping("ping server v4", false, true, false)
	pingServer6 = ping("ping server v6", true, true, false)
	cgPing4     = ping("ping from cgroup v4", false, false, true)
	cgPing6     = ping("ping from cgroup v6", true, false, true)
)

var contractCases = []struct {
	hook    ir.Hook
	traffic []traffic
}{
	{ir.HookXDP, []traffic{ping4, ping6}},
	{ir.HookTCIngress, []traffic{ping4, ping6}},
	{ir.HookTCEgress, []traffic{ping4, ping6}},
	{ir.HookNFPreRouting, []traffic{ping4, ping6}},
	{ir.HookNFLocalIn, []traffic{ping4, ping6}},
	{ir.HookNFForward, []traffic{pingServer4, pingServer6}},
	{ir.HookNFLocalOut, []traffic{ping4, ping6}},
	{ir.HookNFPostRouting, []traffic{ping4, ping6}},
	{ir.HookCgroupSkbIngress, []traffic{cgPing4, cgPing6}},
	{ir.HookCgroupSkbEgress, []traffic{cgPing4, cgPing6}},
	{ir.HookCgroupSockAddrConnect4, []traffic{udp("udp connect v4", false, true)}},
	{ir.HookCgroupSockAddrConnect6, []traffic{udp("udp connect v6", true, true)}},
	{ir.HookCgroupSockAddrSendmsg4, []traffic{udp("udp sendto v4", false, false)}},
	{ir.HookCgroupSockAddrSendmsg6, []traffic{udp("udp sendto v6", true, false)}},
}

// TestAttachmentContract runs every attach type through the same life:
// attach, traffic reaches the program; update, traffic reaches the new
// program only; pin, release the original, re-open from the pins, traffic
// still flows through it and the re-opened attachment can update; close,
// the pins are gone and no program sees traffic.
func TestAttachmentContract(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "ping")
	e := &contractEnv{net: testenv.NewRouted(t), cg: testenv.NewCgroup(t)}
	fs := testenv.NewBPFFS(t)
	for _, tc := range contractCases {
		t.Run(tc.hook.String(), func(t *testing.T) {
			coll := loadCounting(t, tc.hook)
			v1, v2 := coll.Programs["v1"], coll.Programs["v2"]
			opts := ir.HookOpts{Iface: e.net.Left.NameB}
			switch tc.hook.Flavour() {
			case ir.FlavourCgroupSkb, ir.FlavourCgroupSockAddr:
				opts = ir.HookOpts{CgroupPath: e.cg}
			case ir.FlavourNF:
				opts = ir.HookOpts{}
			}

			var a *bpf.Attachment
			if err := e.net.Router.Do(func() error {
				var err error
				a, err = bpf.Attach(v1, tc.hook, opts, bpf.AttachOptions{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					if err := a.Close(); err != nil {
						t.Error(err)
					}
				}
			})
			if tc.hook.Flavour() == ir.FlavourXDP && a.XDPMode != bpf.XDPModeDriver {
				t.Errorf("XDP on veth attached in %q mode, want driver mode", a.XDPMode)
			}
			checkProgram(t, a, v1)
			expectHits(t, e, coll, tc.traffic, 0)

			if err := a.Update(v2); err != nil {
				t.Fatal(err)
			}
			checkProgram(t, a, v2)
			if tc.hook.Flavour() == ir.FlavourNF && a.Priority() != bpf.DefaultNFPriorities[1] {
				t.Errorf("after update the netfilter priority is %d, want %d", a.Priority(), bpf.DefaultNFPriorities[1])
			}
			expectHits(t, e, coll, tc.traffic, 1)

			dir := filepath.Join(fs, tc.hook.String())
			if err := a.Pin(dir); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(); err != nil {
				t.Fatal(err)
			}
			expectHits(t, e, coll, tc.traffic, 1)
			// Re-open where the links live, as a restarted daemon would; the
			// update below then runs from the test's own thread.
			opts = a.Opts
			if err := e.net.Router.Do(func() error {
				var err error
				a, err = bpf.LoadPinnedAttachment(dir, tc.hook, opts)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			checkProgram(t, a, v2)
			if err := a.Update(v1); err != nil {
				t.Fatal(err)
			}
			checkProgram(t, a, v1)
			expectHits(t, e, coll, tc.traffic, 0)

			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			closed = true
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("pins left after Close: %v %v", ents, err)
			}
			expectHits(t, e, coll, tc.traffic, -1)
		})
	}
}

// checkProgram asserts every link of a runs prog.
func checkProgram(t *testing.T, a *bpf.Attachment, prog *ebpf.Program) {
	t.Helper()
	want, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := want.ID()
	infos, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(infos); (a.Hook.Flavour() == ir.FlavourNF && n != 2) || (a.Hook.Flavour() != ir.FlavourNF && n != 1) {
		t.Fatalf("%d links for %s", n, a.Hook)
	}
	for _, info := range infos {
		if info.Program != wantID {
			t.Errorf("link %d runs program %d, want %d", info.ID, info.Program, wantID)
		}
	}
}

// expectHits runs each traffic generator and checks that it made the
// program counting into slot run (and the other not), or, with slot -1,
// that no program ran.
func expectHits(t *testing.T, e *contractEnv, coll *ebpf.Collection, tr []traffic, slot int) {
	t.Helper()
	for _, g := range tr {
		before := counts(t, coll)
		if err := g.run(e); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		after := counts(t, coll)
		for s := range after {
			hit := after[s] > before[s]
			if want := s == slot; hit != want {
				t.Errorf("%s: slot %d went from %d to %d; want hit=%v (expected slot %d)", g.name, s, before[s], after[s], want, slot)
			}
		}
	}
}

func TestAttachRefusesBadOptions(t *testing.T) {
	coll := loadCounting(t, ir.HookXDP)
	for _, tc := range []struct {
		hook ir.Hook
		opts ir.HookOpts
	}{
		{ir.HookXDP, ir.HookOpts{}},
		{ir.HookXDP, ir.HookOpts{Iface: "bf-no-such-if"}},
		{ir.HookTCIngress, ir.HookOpts{CgroupPath: "/sys/fs/cgroup"}},
		{ir.HookCgroupSkbEgress, ir.HookOpts{}},
		{ir.HookNFLocalIn, ir.HookOpts{Priorities: [2]int32{5, 5}}},
	} {
		if _, err := bpf.Attach(coll.Programs["v1"], tc.hook, tc.opts, bpf.AttachOptions{}); err == nil {
			t.Errorf("Attach(%s, %+v) succeeded", tc.hook, tc.opts)
		}
	}
	if _, err := bpf.Attach(nil, ir.HookXDP, ir.HookOpts{Ifindex: 1}, bpf.AttachOptions{}); err == nil {
		t.Error("Attach(nil program) succeeded")
	}
	if _, err := bpf.LoadPinnedAttachment(t.TempDir(), ir.HookXDP, ir.HookOpts{}); err == nil {
		t.Errorf("LoadPinnedAttachment of an empty dir: %v", err)
	}
}
