package iptables

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

const conformanceDir = "../../../shared/conformance/iptables"

// claimedExtensionTests are the iptables .t files of the extensions this
// package claims.
var claimedExtensionTests = []string{
	"iptables.t", "libipt_standard.t", "libxt_standard.t", "libip6t_standard.t",
	"libxt_tcp.t", "libxt_udp.t", "libipt_icmp.t", "libip6t_icmp6.t", "libxt_multiport.t",
	"libxt_iprange.t", "libipt_iprange.t", "libip6t_iprange.t",
	"libxt_conntrack.t", "libipt_conntrack.t", "libip6t_conntrack.t", "libxt_state.t",
	"libxt_comment.t", "libxt_mark.t", "libxt_MARK.t", "libxt_length.t", "libxt_limit.t",
	"libxt_addrtype.t", "libxt_mac.t", "libxt_pkttype.t", "libipt_ttl.t", "libip6t_hl.t",
	"libipt_LOG.t", "libip6t_LOG.t", "libipt_REJECT.t", "libip6t_REJECT.t",
	"libxt_NFLOG.t", "libxt_NFQUEUE.t",
}

// shellWords splits a .t rule the way the shell does for iptables-test.py:
// blanks separate words, single and double quotes group, backslash
// escapes.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated \"")
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// requireConformance skips when ../shared/conformance is not next to the
// repository.
func requireConformance(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(conformanceDir, "extensions")); err != nil {
		t.Skipf("conformance material not found at %s: %v", conformanceDir, err)
	}
}

type tLine struct {
	file, table, chain, rule, expected, result string
	line                                       int
}

// legacyArgvBug lists .t lines that iptables-legacy 1.8.9 refuses only
// because it reads -p/-s/... arguments from argv[optind-1], which breaks
// attached ("-ptcp") and "--opt=value" forms. iptables 1.8.10 and the .t
// files accept them; so does this package, and its listing must be the
// .t file's expected one.
var legacyArgvBug = map[string]bool{"libipt_standard.t:19": true, "libipt_standard.t:20": true}

func readTFile(t *testing.T, path string) []tLine {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tLine
	table, chain := "filter", "INPUT"
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, ":"):
			chain = strings.Split(l[1:], ",")[0]
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		default:
			f := strings.Split(l, ";")
			if len(f) < 3 {
				continue
			}
			out = append(out, tLine{file: filepath.Base(path), table: table, chain: chain, rule: f[0], expected: f[1], result: f[2], line: n})
		}
	}
	return out
}

// TestOracleExtensions applies every line of the claimed .t files with
// iptables-legacy in a test network namespace and with this package to an
// empty table: iptables-legacy's verdict on the line (accepted or
// refused) must be ours, the kernel's blob must equal our encoding byte
// for byte (counters and comefrom masked), and iptables-legacy -S must
// print what our -S prints.
func TestOracleExtensions(t *testing.T) {
	requireConformance(t)
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	testenv.RequireCommand(t, "ip6tables-legacy")
	ns := testenv.NewNetns(t)
	conns := map[abi.Family]*kernel.Conn{}
	for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
		c, err := kernel.OpenInNetns(fam, ns.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[fam] = c
	}
	total, failed := 0, 0
	for _, file := range claimedExtensionTests {
		fam, cmd := abi.IPv4, "iptables-legacy"
		if strings.HasPrefix(file, "libip6t_") {
			fam, cmd = abi.IPv6, "ip6tables-legacy"
		}
		for _, tl := range readTFile(t, filepath.Join(conformanceDir, "extensions", file)) {
			words, err := shellWords(tl.rule)
			if err != nil {
				t.Errorf("%s:%d: %v", tl.file, tl.line, err)
				continue
			}
			total++
			args := append([]string{"-t", tl.table, "-A", tl.chain}, words...)
			_, legacyErr := ns.Run(append([]string{cmd}, args...)...)
			ours := NewTables(fam)
			pc, ourErr := ParseCommand(fam, args)
			if ourErr == nil {
				ourErr = ours.Do(pc, &bytes.Buffer{})
			}
			if key := fmt.Sprintf("%s:%d", tl.file, tl.line); legacyArgvBug[key] {
				var ourS bytes.Buffer
				sc, _ := ParseCommand(fam, []string{"-t", tl.table, "-S", tl.chain, "1"})
				if ourErr == nil {
					ourErr = ours.Do(sc, &ourS)
				}
				if want := "-A " + tl.chain + " " + tl.expected + "\n"; ourErr != nil || ourS.String() != want {
					failed++
					t.Errorf("%s %q: got %q, %v; want %q", key, tl.rule, ourS.String(), ourErr, want)
				}
				continue
			}
			if (legacyErr == nil) != (ourErr == nil) {
				failed++
				t.Errorf("%s:%d %q: iptables-legacy error %v, ours %v", tl.file, tl.line, tl.rule, legacyErr, ourErr)
				ns.Run(cmd, "-t", tl.table, "-F")
				continue
			}
			if legacyErr != nil {
				continue
			}
			kt, _, blob, err := conns[fam].ReadTable(tl.table)
			if err != nil {
				t.Fatalf("%s:%d: read kernel table: %v", tl.file, tl.line, err)
			}
			ot, _ := ours.Table(tl.table)
			_, enc, err := abi.Encode(ot)
			if err != nil {
				t.Fatalf("%s:%d: encode: %v", tl.file, tl.line, err)
			}
			if !bytes.Equal(abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)) {
				failed++
				t.Errorf("%s:%d %q: blob differs\n%s", tl.file, tl.line, tl.rule, abi.DiffBlobs(fam, abi.MaskVolatile(fam, enc), abi.MaskVolatile(fam, blob)))
			}
			legacyS, err := ns.Run(cmd, "-t", tl.table, "-S", tl.chain)
			if err != nil {
				t.Fatal(err)
			}
			var ourS, kernS bytes.Buffer
			sc, _ := ParseCommand(fam, []string{"-t", tl.table, "-S", tl.chain})
			if err := ours.Do(sc, &ourS); err != nil {
				t.Fatal(err)
			}
			kts := NewTables(fam)
			kts.Set(kt)
			if err := kts.Do(sc, &kernS); err != nil {
				t.Fatal(err)
			}
			if ourS.String() != legacyS || kernS.String() != legacyS {
				failed++
				t.Errorf("%s:%d %q: -S differs\nlegacy: %sours:   %sdecoded kernel: %s", tl.file, tl.line, tl.rule, legacyS, ourS.String(), kernS.String())
			}
			for _, opts := range [][]string{{"-n"}, {"-n", "-v", "-x", "--line-numbers"}, {"-n", "-v"}} {
				largs := append([]string{"-t", tl.table, "-L", tl.chain}, opts...)
				legacyL, err := ns.Run(append([]string{cmd}, largs...)...)
				if err != nil {
					t.Fatal(err)
				}
				var ourL bytes.Buffer
				lc, err := ParseCommand(fam, largs)
				if err != nil {
					t.Fatal(err)
				}
				if err := kts.Do(lc, &ourL); err != nil {
					t.Fatal(err)
				}
				if ourL.String() != legacyL {
					failed++
					t.Errorf("%s:%d %q: -L %v differs\nlegacy:\n%sours:\n%s", tl.file, tl.line, tl.rule, opts, legacyL, ourL.String())
				}
			}
			if _, err := ns.Run(cmd, "-t", tl.table, "-F"); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d lines, %d failed", total, failed)
	_ = exec.Command
}
