package translate

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

const extensionsDir = "/work/shared/conformance/iptables/extensions"

// TestPktMatchConformanceLines takes every accepted line of iptables'
// .t files for pkttype, mac, tcp, multiport and iprange, in each filter
// chain the file names, translates the table and compiles its chains
// with the backend: nothing may be refused but multiport on protocols
// without IR port fields (sctp, dccp, udplite). Lines for --tcp-option,
// which the tcp .t file lacks, are added.
func TestPktMatchConformanceLines(t *testing.T) {
	if _, err := os.Stat(extensionsDir); err != nil {
		t.Skipf("conformance material not found at %s: %v", extensionsDir, err)
	}
	type line struct {
		fam          abi.Family
		chain, rule  string
		file         string
		refusedProto bool
	}
	var lines []line
	for _, file := range []string{"libxt_pkttype.t", "libxt_mac.t", "libxt_tcp.t", "libxt_multiport.t", "libipt_iprange.t", "libip6t_iprange.t"} {
		fam := abi.IPv4
		if strings.HasPrefix(file, "libip6t_") {
			fam = abi.IPv6
		}
		f, err := os.Open(filepath.Join(extensionsDir, file))
		if err != nil {
			t.Fatal(err)
		}
		var chains []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			text := sc.Text()
			switch {
			case strings.HasPrefix(text, ":"):
				chains = strings.Split(text[1:], ",")
			case strings.HasPrefix(text, "#") || strings.HasPrefix(text, "*") || text == "":
			default:
				parts := strings.Split(text, ";")
				if len(parts) != 3 || parts[2] != "OK" {
					continue
				}
				rule := parts[0]
				if parts[1] != "=" && parts[1] != "" {
					rule = parts[1]
				}
				for _, c := range chains {
					if c == "INPUT" || c == "FORWARD" || c == "OUTPUT" {
						refused := strings.Contains(rule, "multiport") && !strings.Contains(rule, "-p tcp") && !strings.Contains(rule, "-p udp ")
						lines = append(lines, line{fam, c, rule, file, refused})
					}
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, rule := range []string{"-p tcp -m tcp --tcp-option 2", "-p tcp -m tcp ! --tcp-option 8", "-p tcp -m tcp --dport 22 --tcp-option 30"} {
		for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
			lines = append(lines, line{fam, "INPUT", rule, "added", false})
		}
	}
	n := 0
	for _, l := range lines {
		text := "*filter\n-A " + l.chain + " " + l.rule + "\nCOMMIT\n"
		rs, err := Table(restoreFilter(t, l.fam, text), opts())
		if l.refusedProto {
			if err == nil || !strings.Contains(err.Error(), "multiport with protocol") {
				t.Errorf("%s: %s %s: %v, want a refusal of multiport on that protocol", l.file, l.chain, l.rule, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %s %s: %v", l.file, l.chain, l.rule, err)
			continue
		}
		for _, c := range rs.Chains {
			if c.User {
				continue
			}
			if _, err := backend.CompileInRuleset(rs, c, backend.Options{}); err != nil {
				t.Errorf("%s: %s %s: compile %s: %v", l.file, l.chain, l.rule, c.Name, err)
			}
		}
		n++
	}
	t.Logf("%d lines translated and compiled", n)
}
