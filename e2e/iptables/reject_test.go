package iptablese2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// rejectRule is the rule both REJECT tests add.
var rejectRule = []string{"-A", "INPUT", "-p", "udp", "--dport", "9001", "-j", "REJECT"}

// TestRejectRefusedByDefault: without --iptables-reject-as-drop a REJECT
// rule is refused with iptables' exit code for a failed commit (1) and a
// message naming the rule, REJECT and why; nothing changes.
func TestRejectRefusedByDefault(t *testing.T) {
	e := newTrafficEnv(t, "--transient")
	d := e.d
	d.mustTool("iptables", "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP")
	before := d.mustTool("iptables-save")
	r := d.tool("", "iptables", rejectRule...)
	t.Logf("exit %d, stderr %q", r.code, r.err)
	if r.code != 1 || !strings.Contains(r.err, "-A INPUT -p udp -m udp --dport 9001 -j REJECT") ||
		!strings.Contains(r.err, "REJECT") || !strings.Contains(r.err, "cannot send the ICMP error or TCP reset") ||
		!strings.Contains(r.err, "--iptables-reject-as-drop") {
		t.Fatalf("REJECT rule: exit %d, stderr %q; want exit 1 and a refusal naming the rule, REJECT, the reason and the flag", r.code, r.err)
	}
	if after := d.mustTool("iptables-save"); normalize(after) != normalize(before) {
		t.Errorf("a refused REJECT altered the table:\n%s\nwas:\n%s", after, before)
	}
	if n := e.udp(t, false, 9001, 3); n != 3 {
		t.Errorf("udp 9001: %d/3 delivered after the refused REJECT", n)
	}
	if n := e.udp(t, false, 9000, 3); n != 0 {
		t.Errorf("udp 9000: %d/3 delivered; the rule in force must still drop", n)
	}
	if strings.Contains(d.out.String(), "REJECT translated as DROP") {
		t.Errorf("daemon log mentions REJECT as DROP without the flag:\n%s", d.out.String())
	}
}

// TestRejectAsDropFlag: with --iptables-reject-as-drop the REJECT rule
// loads, is listed as REJECT, drops, and the daemon log names it.
func TestRejectAsDropFlag(t *testing.T) {
	e := newTrafficEnv(t, "--transient", "--iptables-reject-as-drop")
	d := e.d
	d.mustTool("iptables", rejectRule...)
	d.mustTool("ip6tables", rejectRule...)
	if s := d.mustTool("iptables", "-S", "INPUT"); !strings.Contains(s, "-A INPUT -p udp -m udp --dport 9001 -j REJECT --reject-with icmp-port-unreachable") {
		t.Errorf("iptables -S:\n%s", s)
	}
	for _, v6 := range []bool{false, true} {
		if n := e.udp(t, v6, 9001, 3); n != 0 {
			t.Errorf("udp 9001 (v6 %v): %d/3 delivered through REJECT-as-DROP", v6, n)
		}
		if n := e.udp(t, v6, 9002, 3); n != 3 {
			t.Errorf("udp 9002 (v6 %v): %d/3 delivered", v6, n)
		}
	}
	log := d.out.String()
	for _, want := range []string{
		"iptables: chain INPUT rule 1 (-A INPUT -p udp -m udp --dport 9001 -j REJECT --reject-with icmp-port-unreachable): REJECT translated as DROP",
		"ip6tables: chain INPUT rule 1 (-A INPUT -p udp -m udp --dport 9001 -j REJECT --reject-with icmp6-port-unreachable): REJECT translated as DROP",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks %q:\n%s", want, log)
		}
	}
}

// TestImportRejectAsDrop: import refuses a kernel table with REJECT unless
// --reject-as-drop, which imports the rule as DROP and prints a warning
// naming it.
func TestImportRejectAsDrop(t *testing.T) {
	requireE2E(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ns := testenv.NewNetns(t)
	d := newDaemon(t, ns, "--transient")
	d.start()
	must(t, legacy(t, ns, "", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "23", "-j", "REJECT", "--reject-with", "tcp-reset"), "legacy REJECT")
	must(t, legacy(t, ns, "", "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT"), "legacy ACCEPT")
	r := d.tool("", "bpfilter-iptables", "import")
	if r.code == 0 || !strings.Contains(r.err, "REJECT") || !strings.Contains(r.err, "cannot send the ICMP error or TCP reset") {
		t.Fatalf("import of a REJECT rule: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if s := d.mustTool("iptables", "-S", "INPUT"); strings.Contains(s, "--dport") {
		t.Fatalf("a refused import changed the table:\n%s", s)
	}
	r = d.tool("", "bpfilter-iptables", "import", "--reject-as-drop")
	if r.code != 0 || !strings.Contains(r.err, "iptables: warning: -A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset (rule 1) imported as DROP") {
		t.Fatalf("import --reject-as-drop: exit %d\n%s%s", r.code, r.out, r.err)
	}
	want := "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 23 -j DROP\n-A INPUT -p udp -m udp --dport 53 -j ACCEPT\n"
	if s := d.mustTool("iptables", "-S", "INPUT"); s != want {
		t.Errorf("iptables -S INPUT after import --reject-as-drop:\n%s\nwant:\n%s", s, want)
	}
}

// TestRejectAsDropRestart: a standard-mode daemon whose stored table holds
// a REJECT rule does not start without --iptables-reject-as-drop (it says
// why, and the pinned chain keeps dropping), and starts with it.
func TestRejectAsDropRestart(t *testing.T) {
	e := newTrafficEnv(t, "--iptables-reject-as-drop")
	d := e.d
	d.mustTool("iptables", rejectRule...)
	d.stop()
	cmd := exec.Command("nsenter", "--net="+d.ns.Path, filepath.Join(binDir, "bpfilter"), "--runtime-dir", d.run, "--bpffs-path", d.bpffs)
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	out, err := cmd.CombinedOutput()
	timer.Stop()
	if err == nil || !strings.Contains(string(out), "target REJECT is not supported") || !strings.Contains(string(out), "--iptables-reject-as-drop") {
		t.Fatalf("restart without the flag: %v\n%s", err, out)
	}
	if n := e.udp(t, false, 9001, 3); n != 0 {
		t.Errorf("udp 9001: %d/3 delivered while the daemon is down; the pinned chain must still drop", n)
	}
	d2 := &daemon{t: t, ns: d.ns, run: d.run, bpffs: d.bpffs, args: []string{"--iptables-reject-as-drop"}}
	d2.start()
	if s := d2.mustTool("iptables", "-S", "INPUT"); !strings.Contains(s, "--dport 9001 -j REJECT") {
		t.Errorf("iptables -S after restart:\n%s", s)
	}
	if n := e.udp(t, false, 9001, 3); n != 0 {
		t.Errorf("udp 9001 after restart: %d/3 delivered", n)
	}
}
