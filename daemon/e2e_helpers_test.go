package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// syncBuf is a bytes.Buffer safe for a process writer and a test reader.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// e2eEnv is one daemon setup: its network namespace, runtime dir and
// private bpffs.
type e2eEnv struct {
	t      *testing.T
	ns     *testenv.Netns
	run    string
	bpffs  string
	args   []string
	cmd    *exec.Cmd
	out    *syncBuf
	exited chan error
}

func requireE2E(t *testing.T) {
	t.Helper()
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "ip")
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
}

func newE2E(t *testing.T, args ...string) *e2eEnv {
	requireE2E(t)
	e := &e2eEnv{t: t, ns: testenv.NewNetns(t), run: filepath.Join(t.TempDir(), "run"), bpffs: testenv.NewBPFFS(t), args: args}
	return e
}

// selfCmd runs the test binary as main ("daemon" or "bfcli") inside the
// network namespace ns (only the network namespace: the mount namespace
// stays the host's, so cgroup paths are the host's).
func selfCmd(ns *testenv.Netns, main string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"--net=" + ns.Path, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), mainEnv+"="+main)
	return cmd
}

// start runs the daemon and waits until its socket answers.
func (e *e2eEnv) start() {
	e.t.Helper()
	args := append([]string{"--runtime-dir", e.run, "--bpffs-path", e.bpffs}, e.args...)
	e.cmd = selfCmd(e.ns, "daemon", args...)
	e.out = &syncBuf{}
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan error, 1)
	cmd, exited := e.cmd, e.exited
	go func() { exited <- cmd.Wait() }()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			e.t.Fatalf("daemon exited at start (%v): %s", err, e.out)
		default:
		}
		if c, err := client.Dial(e.run); err == nil {
			_, err = c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdDaemonVersion})
			c.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("daemon not ready after 20s: %s", e.out)
}

// stop signals the daemon and returns its exit error.
func (e *e2eEnv) stop(sig syscall.Signal) error {
	e.t.Helper()
	e.cmd.Process.Signal(sig)
	select {
	case err := <-e.exited:
		return err
	case <-time.After(30 * time.Second):
		e.t.Fatalf("daemon did not stop on %v: %s", sig, e.out)
	}
	return nil
}

// runDaemon runs the daemon to completion (for start failures).
func (e *e2eEnv) runDaemon(args ...string) (string, error) {
	cmd := selfCmd(e.ns, "daemon", append([]string{"--runtime-dir", e.run, "--bpffs-path", e.bpffs}, args...)...)
	done := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	close(done)
	return string(out), err
}

// bfcli runs bfcli in namespace ns against this daemon.
func (e *e2eEnv) bfcli(ns *testenv.Netns, args ...string) (string, error) {
	cmd := selfCmd(ns, "bfcli", append([]string{"--runtime-dir", e.run}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("bfcli %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (e *e2eEnv) mustBfcli(ns *testenv.Netns, args ...string) string {
	e.t.Helper()
	out, err := e.bfcli(ns, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// chains returns `bfcli ruleset get --json`, by chain name.
func (e *e2eEnv) chains(ns *testenv.Netns) map[string]proto.ChainState {
	e.t.Helper()
	out := e.mustBfcli(ns, "ruleset", "get", "--json")
	var cs []proto.ChainState
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		e.t.Fatalf("ruleset get --json: %v: %s", err, out)
	}
	m := map[string]proto.ChainState{}
	for _, c := range cs {
		m[c.Chain.Name] = c
	}
	return m
}

// pings sends count pings from ns to dst and returns how many were
// answered.
func pings(t *testing.T, ns *testenv.Netns, dst netip.Addr, count int) int {
	t.Helper()
	out, _ := ns.Run("ping", "-c", fmt.Sprint(count), "-i", "0.05", "-W", "1", dst.String())
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(line, "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	if sent != count {
		t.Fatalf("ping did not run: %s", out)
	}
	return recv
}

// udpDelivered sends count datagrams from sender (in cgroup cg when set) to
// dst, received in receiver, and returns how many arrived.
func udpDelivered(t *testing.T, sender, receiver *testenv.Netns, cg string, dst netip.AddrPort, count int) int {
	t.Helper()
	conn, err := receiver.ListenUDP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := testenv.UDPSendCommand(dst, count, true)
	if cg != "" {
		sender.RunInCgroup(cg, cmd...)
	} else {
		sender.Run(cmd...)
	}
	n := 0
	buf := make([]byte, 1500)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return n
			}
			t.Fatal(err)
		}
		n++
	}
}

// bpffsEntries lists what is left in the private bpffs (the kernel's own
// debug files aside).
func bpffsEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if b := filepath.Base(p); b == "maps.debug" || b == "progs.debug" {
			return nil
		}
		out = append(out, strings.TrimPrefix(p, dir))
		return nil
	})
	return out
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.bf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
