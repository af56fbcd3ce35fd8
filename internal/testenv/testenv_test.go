package testenv

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVethPairPings(t *testing.T) {
	RequireRoot(t)
	RequireCommand(t, "ping")
	a, b := NewNetns(t), NewNetns(t)
	v := NewVethPair(t, a, b, "198.18.0.1/24", "198.18.0.2/24")
	if v.IfindexA == 0 || v.IfindexB == 0 {
		t.Fatalf("ifindexes not set: %+v", v)
	}
	if got := v.Addr6B.String(); got != "fd00:198:18:0::2/64" && got != "fd00:198:18::2/64" {
		t.Fatalf("IPv6 for 198.18.0.2/24 = %s", got)
	}
	a.Exec(t, "ping", "-c", "1", "-W", "1", v.AddrB.Addr().String())
	a.Exec(t, "ping", "-6", "-c", "1", "-W", "1", v.Addr6B.Addr().String())
	// The interface must not exist in the test's own namespace.
	if _, err := net.InterfaceByName(v.NameA); err == nil {
		t.Fatalf("%s is visible in the host namespace", v.NameA)
	}
}

func TestNetnsDoRestores(t *testing.T) {
	ns := NewNetns(t)
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := ns.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == before {
		t.Fatalf("Do ran in the original namespace %s", before)
	}
	after, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("namespace changed from %s to %s", before, after)
	}
}

func TestIPv6ForRefusesOtherRanges(t *testing.T) {
	for _, s := range []string{"10.0.0.1/24", "198.20.0.1/24", "::1/128"} {
		p, _ := netipParse(s)
		if _, err := IPv6For(p); err == nil {
			t.Errorf("IPv6For(%s) accepted an address outside the test range", s)
		}
	}
}

func TestBPFFSAndCgroup(t *testing.T) {
	dir := NewBPFFS(t)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		t.Fatalf("%s is not a bpffs (magic %#x)", dir, st.Type)
	}
	cg := NewCgroup(t)
	if _, err := os.Stat(filepath.Join(cg, "cgroup.procs")); err != nil {
		t.Fatal(err)
	}
	ns := NewNetns(t)
	out, err := ns.RunInCgroup(cg, "cat", "/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0::/"+filepath.Base(cg)) {
		t.Fatalf("command did not run in %s: %s", cg, out)
	}
}

func TestRequireBPF(t *testing.T) {
	RequireBPF(t)
}

func netipParse(s string) (p netip.Prefix, err error) { return netip.ParsePrefix(s) }

func TestRoutedForwards(t *testing.T) {
	RequireCommand(t, "ping")
	r := NewRouted(t)
	r.Client.Exec(t, "ping", "-c", "1", "-W", "1", r.Right.AddrB.Addr().String())
	r.Server.Exec(t, "ping", "-6", "-c", "1", "-W", "1", r.Left.Addr6A.Addr().String())
}
