package iptables

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// commandSequence exercises every command, including the failing ones.
var commandSequence = []string{
	"-N web",
	"-N web",
	"-N aaa",
	"-N zzz",
	"-A INPUT -p tcp --dport 80 -j web",
	"-A INPUT -p tcp --dport 443 -j web",
	"-A web -s 198.18.0.0/15 -j ACCEPT",
	"-I web -p udp -j DROP",
	"-I web 2 -p icmp -j ACCEPT",
	"-I web 9 -j ACCEPT",
	"-R web 1 -p udp --dport 53 -j ACCEPT",
	"-R web 7 -j ACCEPT",
	"-C web -p icmp -j ACCEPT",
	"-C web -p icmp -j DROP",
	"-D web -p icmp -j DROP",
	"-D web -p icmp -j ACCEPT",
	"-D web 5",
	"-D web 1",
	"-A nosuchchain -j ACCEPT",
	"-A INPUT -j nosuchchain",
	"-X web",
	"-X INPUT",
	"-X nosuchchain",
	"-E aaa bbb",
	"-E bbb zzz",
	"-E zzz web",
	"-E zzz yyy",
	"-A OUTPUT -j yyy",
	"-A yyy -g bbb",
	"-A bbb -j yyy",
	"-F yyy",
	"-X yyy",
	"-F OUTPUT",
	"-X yyy",
	"-P FORWARD DROP",
	"-P web DROP",
	"-P INPUT REJECT",
	"-Z",
	"-Z INPUT 1",
	"-A INPUT -s 198.18.0.1,198.18.0.2 -d 198.19.0.1 -j DROP",
	"-D INPUT -s 198.18.0.1,198.18.0.2 -d 198.19.0.1 -j DROP",
	"-A INPUT -m limit --limit 3/s -j LOG --log-prefix test",
	"-D INPUT -m limit --limit 3/s -j LOG --log-prefix test",
	"-A INPUT -m mac --mac-source 00:11:22:33:44:55",
	"-A OUTPUT -m mac --mac-source 00:11:22:33:44:55",
	"-A INPUT -p udp -j REJECT --reject-with tcp-reset",
	"-t nosuchtable -L",
	"-A INPUT --bogus",
	"-A INPUT -p tcp --dport 1:2:3",
	"-L INPUT 1",
	"-v -A INPUT -p udp -d 198.18.0.0/24 -i lo -j DROP",
	"-v -D INPUT -p udp -d 198.18.0.0/24 -i lo -j DROP",
	"-v -A INPUT ! -s 198.18.0.1 -p tcp --dport 22 -m comment --comment hi -j LOG",
	"-v -A FORWARD -p 47 ! -o eth0 -g web",
	"-v -N vv",
	"-v -A vv -j RETURN",
	"-v -F vv",
	"-v -X vv",
	"-S",
	"-S -v",
	"-S INPUT 2",
	"-L -n -v --line-numbers",
	"-L -n -v -x",
	"-L INPUT -n",
	"-L yyy -n",
	"-L -Z -n -v",
	"-nvL INPUT",
	"-A INPUT ! -s 198.18.0.0/255.255.0.255 ! -i eth+ -o veth0 -p 47 -f -g bbb",
	"-A FORWARD ! -s 198.18.0.0/255.255.0.255 ! -i eth+ -o veth0 -p 47 -f -g bbb",
	"-A FORWARD -i + ! -o + -p udp -m udp --sport 1:1023 -m comment --comment \"\" -j bbb",
	"-A INPUT -p tcp -m tcp ! --syn -m multiport ! --dports 22,80:90 -m conntrack --ctstate NEW,ESTABLISHED --ctorigsrc 198.18.0.0/16 -j ACCEPT",
	"-A INPUT -m addrtype --src-type LOCAL -m pkttype --pkt-type multicast -m ttl --ttl-lt 3 -j MARK --set-mark 0x10/0xf0",
	"-A INPUT -m length --length 100:200 -m limit --limit 10/minute --limit-burst 3 -m iprange --src-range 198.18.0.1-198.18.0.9 -j REJECT --reject-with tcp-reset -p tcp",
	"-S",
	"-S -v",
	"-L -n -v",
	"-L -n",
	"-L -v -x -n --line-numbers",
	"-C INPUT -m length --length 100:200 -m limit --limit 10/minute --limit-burst 3 -m iprange --src-range 198.18.0.1-198.18.0.9 -j REJECT --reject-with tcp-reset -p tcp",
	"-F",
	"-X",
	"-N a",
	"-N b",
	"-A a -j b",
	"-X",
}

// runLegacy runs prog (an iptables-legacy binary) with args in the network
// namespace named ns, with stdin when not nil, and returns its stdout,
// stderr and exit status; failing to run it at all fails the test.
func runLegacy(t *testing.T, ns, prog string, args []string, stdin io.Reader) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, prog}, args...)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// firstLine is the first line of s with iptables' "(legacy)" spelt as ours.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.Replace(l, "(legacy)", "(bpfilter)", 1)
}

// v6Line turns a line of commandSequence into its ip6tables form.
func v6Line(s string) string {
	r := strings.NewReplacer(
		"198.18.0.0/15", "fd00:198:18::/48", "198.18.0.0/16", "fd00:198:18::/64",
		"198.18.0.0/255.255.0.255", "fd00:198:18::/ffff:ffff::ffff",
		"198.18.0.", "fd00:198:18::", "198.19.0.", "fd00:198:19::",
		"-p icmp", "-p ipv6-icmp", "-m ttl --ttl-lt", "-m hl --hl-lt", " -f ", " ")
	return r.Replace(s)
}

// TestOracleCommands runs a sequence of commands, failing ones included,
// through iptables-legacy (and ip6tables-legacy) and through Main: exit
// statuses, first error lines, listings and the resulting kernel blob must
// agree after every step.
func TestOracleCommands(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
		t.Run(fam.String(), func(t *testing.T) { oracleCommands(t, fam) })
	}
}

func oracleCommands(t *testing.T, fam abi.Family) {
	ns := testenv.NewNetns(t)
	conn, err := kernel.OpenInNetns(fam, ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ours := NewTables(fam)
	prog := "iptables-legacy"
	if fam == abi.IPv6 {
		prog = "ip6tables-legacy"
	}
	for _, line := range commandSequence {
		if fam == abi.IPv6 {
			line = v6Line(line)
		}
		args := strings.Fields(line)
		lout, lerr, lcode := runLegacy(t, ns.Name, prog, args, nil)
		var oout, oerr bytes.Buffer
		ocode := Main(ours, args, &oout, &oerr)
		if lcode != ocode {
			t.Errorf("%q: exit %d, iptables-legacy %d (%s / %s)", line, ocode, lcode, strings.TrimSpace(oerr.String()), strings.TrimSpace(lerr))
		}
		if firstLine(lerr) != firstLine(oerr.String()) {
			t.Errorf("%q: stderr\n got %q\nwant %q", line, firstLine(oerr.String()), firstLine(lerr))
		}
		if lout != oout.String() {
			t.Errorf("%q: stdout\n got %q\nwant %q", line, oout.String(), lout)
		}
		_, _, blob, err := conn.ReadTable("filter")
		if err != nil {
			t.Fatal(err)
		}
		ot, _ := ours.Table("filter")
		_, enc, err := abi.Encode(ot)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)) {
			t.Fatalf("%q: tables differ\n%s", line, abi.DiffBlobs(fam, abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)))
		}
	}
}

// kernelCheckSequence exercises the table and hook restrictions the kernel
// enforces, through user chains too.
var kernelCheckSequence = []string{
	"-t mangle -A INPUT -j REJECT",
	"-t raw -A PREROUTING -j REJECT",
	"-N u",
	"-A u -j REJECT",
	"-A INPUT -j u",
	"-N w",
	"-A w -m mac --mac-source 00:11:22:33:44:55",
	"-A OUTPUT -j w",
	"-A FORWARD -j w",
	"-N v",
	"-A v -m addrtype --src-type LOCAL --limit-iface-in",
	"-A w -j v",
	"-A OUTPUT -j v",
	"-t mangle -A PREROUTING -m mac --mac-source 00:11:22:33:44:55",
	"-t mangle -A POSTROUTING -m mac --mac-source 00:11:22:33:44:55",
	"-S",
}

// TestOracleKernelChecks compares exit statuses, first error lines and
// blobs with iptables-legacy for rules the kernel refuses by table or hook.
func TestOracleKernelChecks(t *testing.T) { runOracleSequence(t, kernelCheckSequence) }

// runOracleSequence runs the command lines with iptables-legacy in a test
// network namespace and with this package, comparing exit statuses, first
// error lines, output and the filter and mangle blobs after every line.
func runOracleSequence(t *testing.T, lines []string) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ns := testenv.NewNetns(t)
	conn, err := kernel.OpenInNetns(abi.IPv4, ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ours := NewTables(abi.IPv4)
	for _, line := range lines {
		args := strings.Fields(line)
		lout, lerr, lcode := runLegacy(t, ns.Name, "iptables-legacy", args, nil)
		var oout, oerr bytes.Buffer
		ocode := Main(ours, args, &oout, &oerr)
		if lcode != ocode || firstLine(lerr) != firstLine(oerr.String()) || lout != oout.String() {
			t.Errorf("%q: exit %d %q %q; iptables-legacy %d %q %q", line, ocode, firstLine(oerr.String()), oout.String(), lcode, firstLine(lerr), lout)
		}
		for _, table := range []string{"filter", "mangle"} {
			_, _, blob, err := conn.ReadTable(table)
			if err != nil {
				t.Fatal(err)
			}
			ot, _ := ours.Table(table)
			_, enc, err := abi.Encode(ot)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(abi.MaskVolatile(abi.IPv4, enc), abi.MaskVolatile(abi.IPv4, blob)) {
				t.Fatalf("%q: %s tables differ", line, table)
			}
		}
	}
}
