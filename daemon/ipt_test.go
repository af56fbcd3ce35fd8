package daemon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"

	compat "github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// iptRequest builds the ipt_replace request iptables would send after the
// given commands on an empty filter table.
func iptRequest(t testing.TB, fam abi.Family, numCounters uint32, cmds ...[]string) []byte {
	t.Helper()
	ts := compat.NewTables(fam)
	for _, c := range cmds {
		if code := compat.Main(ts, c, io.Discard, io.Discard); code != 0 {
			t.Fatalf("iptables %v: exit %d", c, code)
		}
	}
	tab, err := ts.Table("filter")
	if err != nil {
		t.Fatal(err)
	}
	rep, blob, err := abi.Encode(tab)
	if err != nil {
		t.Fatal(err)
	}
	rep.NumCounters = numCounters
	return rep.Marshal(blob)
}

func getEntries(t testing.TB, s *State, fam abi.Family) []byte {
	t.Helper()
	ib, err := s.IptGetInfo(fam, abi.MarshalInfoRequest("filter"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := abi.UnmarshalInfo(ib)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.IptGetEntries(fam, abi.MarshalGetEntriesRequest("filter", info.Size))
	if err != nil {
		t.Fatal(err)
	}
	_, blob, err := abi.UnmarshalGetEntries(b)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestIptReplaceGetEntriesCountersPersist(t *testing.T) {
	ts := newTestState(t, true)
	if err := ts.ensureIptables(true, ts.peer); err != nil {
		t.Fatal(err)
	}
	empty := getEntries(t, ts.State, abi.IPv4)
	if len(empty) != 4*abi.IPv4EntrySize+3*abi.StandardTargetSize+abi.ErrorTargetSize {
		t.Fatalf("empty filter table is %d bytes", len(empty))
	}
	req := iptRequest(t, abi.IPv4, 4,
		[]string{"-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"},
		[]string{"-A", "OUTPUT", "-s", "198.18.0.0/15", "-j", "ACCEPT"},
		[]string{"-P", "FORWARD", "DROP"})
	// A stale num_counters is refused (EAGAIN), changing nothing.
	bad := append([]byte(nil), req...)
	binary.NativeEndian.PutUint32(bad[84:], 3)
	if _, err := ts.IptReplace(abi.IPv4, bad, ts.peer, false); Errno(err) != proto.EAGAIN {
		t.Fatalf("stale num_counters: %v", err)
	}
	old, err := ts.IptReplace(abi.IPv4, req, ts.peer, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 4*abi.CountersSize {
		t.Fatalf("old counters: %d bytes", len(old))
	}
	_, sent, _ := abi.UnmarshalReplace(req)
	got := getEntries(t, ts.State, abi.IPv4)
	if !bytes.Equal(abi.MaskVolatile(abi.IPv4, got), abi.MaskVolatile(abi.IPv4, sent)) {
		t.Fatalf("get entries differs from the replaced table:\n%s", abi.DiffBlobs(abi.IPv4, got, sent))
	}
	// The IR: guard + 1 rule in INPUT, DROP policy in FORWARD.
	in, err := ts.ChainGet(proto.FrontIptables, "iptables.INPUT", false)
	if err != nil || len(in.Chain.Rules) != 2 {
		t.Fatalf("iptables.INPUT: %v %+v", err, in.Chain)
	}
	// add_counters adds to entry 0 (INPUT's rule) and the BPF counters
	// add to that.
	cs := make([]abi.Counters, 6)
	cs[0] = abi.Counters{Packets: 7, Bytes: 700}
	if err := ts.IptAddCounters(abi.IPv4, abi.MarshalCountersInfo("filter", cs)); err != nil {
		t.Fatal(err)
	}
	ts.k.mu.Lock()
	for _, p := range ts.k.progs {
		if p.chain.Name == "iptables.INPUT" && !p.closed && !p.spent {
			p.counters.Rules[1] = proto.Counter{Packets: 2, Bytes: 20}
		}
	}
	ts.k.mu.Unlock()
	want := func(s *State) {
		t.Helper()
		tab, err := abi.Decode(abi.IPv4, mustInfo(t, s), getEntries(t, s, abi.IPv4))
		if err != nil {
			t.Fatal(err)
		}
		if c := tab.Chain("INPUT").Rules[0].Counters; c != (abi.Counters{Packets: 9, Bytes: 720}) {
			t.Fatalf("INPUT rule 1 counters %+v, want 9/720", c)
		}
	}
	want(ts.State)
	// Restart: the table and its counter bases come back.
	s2 := ts.reopen(t, true)
	if err := s2.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := s2.ensureIptables(true, ts.peer); err != nil {
		t.Fatal(err)
	}
	want(s2)
	// Other tables do not exist; ipt.* needs the iptables front.
	if _, err := s2.IptGetInfo(abi.IPv4, abi.MarshalInfoRequest("nat")); Errno(err) != proto.ENOENT {
		t.Fatalf("nat: %v", err)
	}
}

func mustInfo(t testing.TB, s *State) abi.Info {
	t.Helper()
	ib, err := s.IptGetInfo(abi.IPv4, abi.MarshalInfoRequest("filter"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := abi.UnmarshalInfo(ib)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// snapshot is what must not change when a request fails.
func iptSnapshot(t testing.TB, s *State) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.encodeContext(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	delete(m, "next_gen")
	out, _ := json.Marshal(m)
	return string(out)
}

// FuzzIptRequests feeds arbitrary buffers to every ipt.* request: errors,
// never a panic, and a failed request leaves the context unchanged.
func FuzzIptRequests(f *testing.F) {
	good := iptRequest(f, abi.IPv4, 4, []string{"-N", "X"}, []string{"-A", "X", "-p", "tcp", "--dport", "1:9", "-j", "ACCEPT"},
		[]string{"-A", "INPUT", "-s", "198.18.0.1", "-j", "DROP"})
	f.Add(uint8(0), good)
	f.Add(uint8(0), good[:len(good)-8])
	f.Add(uint8(0), good[:abi.ReplaceHeaderSize])
	f.Add(uint8(1), abi.MarshalInfoRequest("filter"))
	f.Add(uint8(2), abi.MarshalGetEntriesRequest("filter", 10))
	f.Add(uint8(3), abi.MarshalCountersInfo("filter", make([]abi.Counters, 4)))
	f.Add(uint8(4), []byte("tcp\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, op uint8, data []byte) {
		ts := newTestState(t, false)
		if err := ts.ensureIptables(true, ts.peer); err != nil {
			t.Fatal(err)
		}
		fam := abi.IPv4
		if op&0x80 != 0 {
			fam = abi.IPv6
		}
		before := iptSnapshot(t, ts.State)
		var err error
		switch op & 7 {
		case 0:
			_, err = ts.IptReplace(fam, data, ts.peer, false)
		case 1:
			_, err = ts.IptGetInfo(fam, data)
		case 2:
			_, err = ts.IptGetEntries(fam, data)
		case 3:
			err = ts.IptAddCounters(fam, data)
		default:
			_, err = IptRevision(fam, op&1 == 0, data)
		}
		if err != nil && iptSnapshot(t, ts.State) != before {
			t.Fatalf("failed request (%v) changed the context", err)
		}
	})
}

func revisionReq(name string, rev uint8) []byte {
	b := make([]byte, abi.RevisionRequestSize)
	copy(b, name)
	b[abi.ExtNameLen] = rev
	return b
}

// TestIptRevision checks revision queries are answered like the kernel
// for what bpfilter decodes and translates: the best revision, ENOENT for
// unknown or refused extensions, EOPNOTSUPP above the best.
func TestIptRevision(t *testing.T) {
	for _, c := range []struct {
		target bool
		name   string
		rev    uint8
		best   int
		errno  string
	}{
		{false, "tcp", 0, 0, ""},
		{false, "udp", 1, 0, proto.EOPNOTSUPP},
		{false, "mark", 1, 1, ""},
		{true, "", 0, 0, ""},
		{true, "NFQUEUE", 0, 0, proto.ENOENT},
		{false, "nosuchmatch", 0, 0, proto.ENOENT},
	} {
		best, err := IptRevision(abi.IPv4, c.target, revisionReq(c.name, c.rev))
		if c.errno == "" && (err != nil || best != c.best) {
			t.Errorf("%q rev %d: best %d, %v; want %d", c.name, c.rev, best, err, c.best)
		}
		if c.errno != "" && Errno(err) != c.errno {
			t.Errorf("%q rev %d: %v, want %s", c.name, c.rev, err, c.errno)
		}
	}
	if _, err := IptRevision(abi.IPv4, false, []byte("tcp")); Errno(err) != proto.EINVAL {
		t.Errorf("short request: %v", err)
	}
}
