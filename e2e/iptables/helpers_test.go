package iptablese2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func requireE2E(t *testing.T) {
	t.Helper()
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "nsenter")
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if buildErr != nil || binDir == "" {
		t.Fatalf("building the binaries: %v", buildErr)
	}
}

// daemon is one bpfilter daemon running in a test namespace.
type daemon struct {
	t      *testing.T
	ns     *testenv.Netns
	run    string
	bpffs  string
	args   []string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan error
}

// newDaemon prepares a daemon for ns with its own runtime dir and bpffs;
// start runs it.
func newDaemon(t *testing.T, ns *testenv.Netns, args ...string) *daemon {
	return &daemon{t: t, ns: ns, run: filepath.Join(t.TempDir(), "run"), bpffs: testenv.NewBPFFS(t), args: args}
}

func (d *daemon) start() {
	d.t.Helper()
	args := append([]string{"--net=" + d.ns.Path, filepath.Join(binDir, "bpfilter"), "--runtime-dir", d.run, "--bpffs-path", d.bpffs}, d.args...)
	d.cmd = exec.Command("nsenter", args...)
	d.out = &bytes.Buffer{}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	cmd, exited := d.cmd, d.exited
	go func() { exited <- cmd.Wait() }()
	d.t.Cleanup(func() {
		select {
		case err := <-exited:
			exited <- err
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			d.t.Fatalf("daemon exited at start (%v)", err)
		default:
		}
		if c, err := client.Dial(d.run); err == nil {
			_, err = c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdDaemonVersion})
			c.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("daemon not ready after 20s")
}

// stop stops the daemon with SIGTERM and waits for it.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			d.t.Fatalf("daemon exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		d.t.Fatal("daemon did not stop")
	}
}

// result is one command's outcome.
type result struct {
	out, err string
	code     int
}

// runIn runs a command in ns with the daemon's runtime dir in the
// environment and stdin.
func runIn(t *testing.T, ns *testenv.Netns, runDir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=" + ns.Path}, args...)...)
	cmd.Env = append(os.Environ(), "BPFILTER_RUNTIME_DIR="+runDir)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return result{out: stdout.String(), err: stderr.String(), code: code}
}

// tool runs one of bpfilter's iptables tools (through its link, so argv[0]
// chooses it) against daemon d.
func (d *daemon) tool(stdin, name string, args ...string) result {
	d.t.Helper()
	return runIn(d.t, d.ns, d.run, stdin, append([]string{filepath.Join(binDir, name)}, args...)...)
}

func (d *daemon) mustTool(name string, args ...string) string {
	d.t.Helper()
	r := d.tool("", name, args...)
	if r.code != 0 {
		d.t.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

// legacy runs iptables-legacy's tool name (iptables, ip6tables-save...)
// in ns.
func legacy(t *testing.T, ns *testenv.Netns, stdin, name string, args ...string) result {
	t.Helper()
	bin := strings.Replace(name, "tables", "tables-legacy", 1)
	return runIn(t, ns, "", stdin, append([]string{bin}, args...)...)
}

var (
	countersRE = regexp.MustCompile(`\[\d+:\d+\]`)
	policyRE   = regexp.MustCompile(`\(policy (\w+) \d+ packets, \d+ bytes\)`)
	refsRE     = regexp.MustCompile(`^(\s*)\d+\s+\d+(\s)`)
	versionRE  = regexp.MustCompile(`v1\.8\.9 \((legacy|bpfilter)\)`)
)

// normalize removes what differs between two runs whatever the tool:
// counters, comment lines of save output, the version's variant.
func normalize(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "# ") {
			continue
		}
		l = countersRE.ReplaceAllString(l, "[0:0]")
		l = policyRE.ReplaceAllString(l, "(policy $1 0 packets, 0 bytes)")
		if !strings.HasPrefix(strings.TrimSpace(l), "pkts") {
			l = refsRE.ReplaceAllString(l, "${1}0 0$2")
		}
		l = versionRE.ReplaceAllString(l, "v1.8.9")
		b.WriteString(l)
	}
	return b.String()
}

func must(t *testing.T, r result, what string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d: %s", what, r.code, r.err)
	}
	return r.out
}

var _ = fmt.Sprint
