package translate

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// FuzzTranslate restores arbitrary iptables-restore text and translates
// whatever restores: translation must return a valid ruleset or an error,
// never panic.
func FuzzTranslate(f *testing.F) {
	f.Add(basicRules, false)
	f.Add("*filter\n-A INPUT -p tcp -m multiport --dports 1:2,5 -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n", false)
	f.Add("*filter\n-A INPUT -m length --length 0:39 -m hl --hl-lt 1 -m iprange --src-range ::1-::2 -j DROP\nCOMMIT\n", true)
	f.Add("*filter\n-A INPUT ! -i eth+ -o lo -f -m ttl --ttl-gt 255 -j LOG\nCOMMIT\n", false)
	// iptables packet matches (pktmatch.go).
	f.Add("*filter\n-A INPUT -m pkttype ! --pkt-type broadcast -m mac --mac-source 02:00:00:00:00:01 -p tcp -m tcp --tcp-option 8 -m multiport ! --ports 22,80:90 -j DROP\nCOMMIT\n", false)
	f.Add("*filter\n-A FORWARD -m iprange ! --src-range fd00::1-fd00::1:0 --dst-range ::9-::1 -p udp -m multiport --ports 53 -j DROP\nCOMMIT\n", true)
	f.Fuzz(func(t *testing.T, text string, v6 bool) {
		fam := abi.IPv4
		if v6 {
			fam = abi.IPv6
		}
		ts := iptables.NewTables(fam)
		if err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{}); err != nil {
			return
		}
		for _, name := range ts.Loaded() {
			tb, err := ts.Table(name)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Table(tb, Options{RuleText: iptables.RuleString, RejectAsDrop: true})
			if err != nil {
				continue
			}
			if err := rs.Validate(); err != nil {
				t.Fatalf("translated ruleset does not validate: %v", err)
			}
		}
	})
}
