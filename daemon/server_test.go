package daemon

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// startServer serves a fake-kernel state on a socket in a temp dir.
func startServer(t *testing.T, disabled map[string]string) (*testState, *Server, string) {
	t.Helper()
	ts := newTestState(t, false)
	srv := NewServer(ServerConfig{State: ts.State, Disabled: disabled, Group: -1})
	srv.peer = func(int) (Peer, func(), error) { return ts.peer, func() {}, nil }
	dir := t.TempDir()
	ln, err := srv.Listen(filepath.Join(dir, "daemon.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts, srv, dir
}

func dial(t *testing.T, dir string) *client.Client {
	t.Helper()
	c, err := client.Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func rawConn(t *testing.T, dir string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(dir, "daemon.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func readResp(t *testing.T, c net.Conn) *proto.Response {
	t.Helper()
	b, err := proto.ReadFrame(c, 0)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	var r proto.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestSocketMode(t *testing.T) {
	_, _, dir := startServer(t, nil)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "daemon.sock"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o600 {
		t.Fatalf("socket mode %o, want 600", st.Mode&0o777)
	}
}

func TestServerRoundTrip(t *testing.T) {
	ts, _, dir := startServer(t, map[string]string{proto.FrontNftables: "--no-nftables"})
	c := dial(t, dir)
	if _, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainSet,
		Text: "chain a BF_HOOK_XDP{iface=veth0} ACCEPT rule ip4.proto icmp counter DROP"}); err != nil {
		t.Fatal(err)
	}
	ts.chains["a"].prog.(*fakeProg).hit(0, 2)
	r, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainGet, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Chains) != 1 || r.Chains[0].Counters.Rules[0].Packets != 2 || r.Chains[0].Chain.HookOpts.Ifindex != 2 {
		t.Fatalf("chain.get: %+v", r.Chains)
	}
	_, err = c.Do(&proto.Request{Front: "nftables", Cmd: proto.CmdRulesetGet})
	if !client.IsErrno(err, proto.EOPNOTSUPP) || !strings.Contains(err.Error(), "--no-nftables") {
		t.Fatalf("disabled front: %v", err)
	}
	_, err = c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainSet, Text: "chain b BF_HOOK_XDP{ifindex=2} ACCEPT"})
	if !client.IsErrno(err, proto.EEXIST) {
		t.Fatalf("duplicate attach: %v", err)
	}
	_, err = c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdRulesetSet, Text: "chain b BF_HOOK_XDP ACCEPT\n rule ip4.sadr 1.2.3.4 DROP"})
	if !client.IsErrno(err, proto.EINVAL) || !strings.Contains(err.Error(), "<request>:2:") {
		t.Fatalf("text error is not positioned: %v", err)
	}
	r, err = c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdContextDump})
	if err != nil || !strings.Contains(r.Dump, "BF_HOOK_XDP:") {
		t.Fatalf("dump: %v %q", err, r.Dump)
	}
}

func TestServerLogs(t *testing.T) {
	ts, _, dir := startServer(t, nil)
	c := dial(t, dir)
	if _, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainLoad, Text: "chain a BF_HOOK_XDP ACCEPT rule ip4.proto icmp log DROP"}); err != nil {
		t.Fatal(err)
	}
	p := ts.chains["a"].prog.(*fakeProg)
	p.logs <- proto.LogEntry{Text: "one"}
	p.logs <- proto.LogEntry{Text: "two"}
	lc := dial(t, dir)
	var got []string
	errStop := io.EOF
	err := lc.Stream(&proto.Request{Front: "cli", Cmd: proto.CmdChainLogs, Name: "a"}, func(r *proto.Response) error {
		got = append(got, r.Log.Text)
		if len(got) == 2 {
			return errStop
		}
		return nil
	})
	if err != errStop || !reflect.DeepEqual(got, []string{"one", "two"}) {
		t.Fatalf("logs: %v %v", got, err)
	}
	lc.Close()
	watchers := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			ts.mu.Lock()
			n := len(ts.chains["a"].watchers)
			ts.mu.Unlock()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d log streams, want %d", n, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	watchers(0)
	// An update ends the streams of the replaced program.
	lc2 := dial(t, dir)
	ended := make(chan error, 1)
	go func() {
		ended <- lc2.Stream(&proto.Request{Front: "cli", Cmd: proto.CmdChainLogs, Name: "a"}, func(*proto.Response) error { return nil })
	}()
	watchers(1)
	if _, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainUpdate, Text: "chain a BF_HOOK_XDP DROP"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the update did not end the log stream")
	}
	// The daemon still serves the first client.
	if _, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainFlush, Name: "a"}); err != nil {
		t.Fatal(err)
	}
}

func TestServerSurvivesBadClients(t *testing.T) {
	ts, _, dir := startServer(t, nil)
	good := dial(t, dir)
	if _, err := good.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainSet, Text: "chain a BF_HOOK_XDP{ifindex=2} DROP"}); err != nil {
		t.Fatal(err)
	}
	before, _ := ts.RulesetGet("cli", false)

	// Garbage JSON: answered, the connection stays usable.
	c := rawConn(t, dir)
	for _, body := range []string{"garbage", `{"version":1,"id":5,"front":"cli","cmd":"nope"}`,
		`{"version":2,"id":6,"front":"cli","cmd":"ruleset.get"}`, `{"version":1,"id":7,"front":"pf","cmd":"ruleset.get"}`,
		`{"version":1,"id":8,"front":"cli","cmd":"ruleset.set","ruleset":{"Chains":[null]}}`,
		`{"version":1,"id":9,"front":"cli","cmd":"ruleset.set","ruleset":{"Chains":[{"Name":"x","Hook":99}]}}`,
		`{"version":1,"id":10,"front":"cli","cmd":"chain.flush","name":"a","extra":1}`,
		`{"version":1,"id":11,"front":"cli","cmd":"ruleset.flush"} {}`} {
		if err := proto.WriteFrame(c, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if r := readResp(t, c); r.OK || r.Error == "" {
			t.Fatalf("%s: accepted: %+v", body, r)
		}
	}
	proto.WriteFrame(c, []byte(`{"version":1,"id":12,"front":"cli","cmd":"ruleset.get"}`))
	if r := readResp(t, c); !r.OK || r.ID != 12 {
		t.Fatalf("connection unusable after errors: %+v", r)
	}

	// A huge length: answered with an error, then dropped.
	h := rawConn(t, dir)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 0xffffffff)
	h.Write(hdr[:])
	if r := readResp(t, h); r.OK || r.Errno != proto.EPROTO {
		t.Fatalf("huge frame: %+v", r)
	}
	if _, err := proto.ReadFrame(h, 0); err == nil {
		t.Fatal("connection kept open after a huge frame")
	}

	// A client vanishing in the middle of a frame.
	for range 20 {
		v := rawConn(t, dir)
		binary.BigEndian.PutUint32(hdr[:], 100)
		v.Write(hdr[:])
		v.Write([]byte(`{"version":1,`))
		v.Close()
	}

	// Many clients at once while bad ones come and go.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := client.Dial(dir)
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			if _, err := cl.Do(&proto.Request{Front: "cli", Cmd: proto.CmdRulesetGet}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	after, err := ts.RulesetGet("cli", false)
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Fatalf("bad clients changed the ruleset: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	s := &Server{group: -1}
	if err := s.authorize(&unix.Ucred{Uid: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.authorize(&unix.Ucred{Uid: 1000, Gid: 1000, Pid: 1}); Errno(err) != proto.EPERM {
		t.Fatalf("non-root accepted: %v", err)
	}
	s.group = 1000
	if err := s.authorize(&unix.Ucred{Uid: 1000, Gid: 1000, Pid: 1}); err != nil {
		t.Fatalf("group member refused: %v", err)
	}
	if err := s.authorize(&unix.Ucred{Uid: 1001, Gid: 1001, Pid: 1}); Errno(err) != proto.EPERM {
		t.Fatalf("non-member accepted: %v", err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":1,"front":"cli","cmd":"ruleset.set","text":"chain b BF_HOOK_XDP ACCEPT"}`))
	f.Add([]byte(`{"version":1,"id":2,"front":"cli","cmd":"chain.update","chain":{"Name":"a","Hook":0,"Policy":{"Kind":1},"Rules":[{"Matches":[{"Field":14,"Op":0,"Value":"Bg=="}],"Verdict":{"Kind":1}}]}}`))
	f.Add([]byte(`{"version":1,"id":3,"front":"cli","cmd":"chain.update-set","name":"a","set_name":"s","add":["198.18.0.9"]}`))
	f.Add([]byte(`{"version":1,"id":4,"front":"iptables","cmd":"chain.attach","name":"a","hook_opts":{"Ifindex":3}}`))
	f.Add([]byte(`{"version":1,"id":5,"front":"cli","cmd":"ruleset.flush"}`))
	f.Add([]byte(`{"version":1,"id":6,"front":"cli","cmd":"ruleset.set","ruleset":{"Chains":[{"Name":"x","Hook":99,"Sets":[null]}]}}`))
	f.Add([]byte("\xff\x00garbage"))
	ts := newTestState(f, false)
	srv := NewServer(ServerConfig{State: ts.State, Group: -1})
	srv.peer = func(int) (Peer, func(), error) { return ts.peer, func() {}, nil }
	c := parseChain(f, "chain a BF_HOOK_XDP{ifindex=2} ACCEPT set s (ip4.saddr) in { 198.18.0.1 } rule (ip4.saddr) in s counter DROP")
	if err := ts.ChainSet("cli", c, ts.peer, false); err != nil {
		f.Fatal(err)
	}
	snapshot := func() string {
		var b strings.Builder
		for _, front := range []string{"cli", "iptables", "nftables"} {
			cs, err := ts.RulesetGet(front, false)
			if err != nil {
				f.Fatal(err)
			}
			json.NewEncoder(&b).Encode(cs)
		}
		ts.k.mu.Lock()
		defer ts.k.mu.Unlock()
		for k, l := range ts.k.attached {
			b.WriteString(k + "=" + l.prog.chain.Name + ";")
		}
		return b.String()
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := proto.DecodeRequest(body)
		if err == nil && (req.Version != proto.Version || req.Cmd == "") {
			t.Fatalf("accepted a request without version or command: %+v", req)
		}
		before := snapshot()
		_, resp := srv.process(body, 1)
		if resp == nil || resp.OK {
			return
		}
		if resp.Error == "" {
			t.Fatal("failure without a message")
		}
		if after := snapshot(); after != before {
			t.Fatalf("a failed request (%s) changed the context", resp.Error)
		}
	})
}

// TestIptFrontGenericChangesRefused: generic chain and ruleset changes sent
// as the iptables front are refused (they would bypass the iptables table
// the daemon keeps) and change nothing; reads are answered.
func TestIptFrontGenericChangesRefused(t *testing.T) {
	ts, _, dir := startServer(t, nil)
	c := dial(t, dir)
	text := "chain a BF_HOOK_XDP{iface=veth0} ACCEPT rule ip4.proto icmp counter DROP"
	for _, cmd := range []string{proto.CmdRulesetSet, proto.CmdChainSet, proto.CmdChainLoad, proto.CmdChainUpdate, proto.CmdRulesetFlush, proto.CmdChainFlush} {
		req := &proto.Request{Front: proto.FrontIptables, Cmd: cmd, Name: "a",
			Chain: &ir.Chain{Name: "a", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}}
		if cmd == proto.CmdRulesetSet {
			req.Chain, req.Ruleset = nil, &ir.Ruleset{}
		}
		_, err := c.Do(req)
		if !client.IsErrno(err, proto.EINVAL) || !strings.Contains(err.Error(), "ipt.replace") {
			t.Errorf("%s from the iptables front: %v, want EINVAL naming ipt.replace", cmd, err)
		}
	}
	if len(ts.chains) != 0 {
		t.Fatalf("refused requests changed the state: %v", ts.chains)
	}
	if _, err := c.Do(&proto.Request{Front: proto.FrontIptables, Cmd: proto.CmdRulesetGet}); err != nil {
		t.Errorf("ruleset.get from the iptables front: %v", err)
	}
	if _, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainSet, Text: text}); err != nil {
		t.Fatalf("cli front still works: %v", err)
	}
}
