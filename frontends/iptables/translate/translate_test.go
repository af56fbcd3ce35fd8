package translate

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// restoreFilter parses an iptables-restore text into its filter table.
func restoreFilter(t *testing.T, fam abi.Family, text string) *abi.Table {
	t.Helper()
	ts := iptables.NewTables(fam)
	if err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	tb, err := ts.Table("filter")
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func opts() Options { return Options{RuleText: iptables.RuleString} }

const basicRules = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:web - [0:0]
:bad_chain - [0:0]
-A INPUT -s 198.18.1.0/24 -j bad_chain
-A INPUT -p tcp -m tcp --dport 80:90 -j web
-A INPUT -p udp -m udp ! --sport 53 -m comment --comment "not dns" -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN -j LOG --log-prefix "syn: "
-A INPUT ! -d 198.18.0.1/32 -g bad_chain
-A web -p tcp -m tcp --sport 1000 -j RETURN
-A web -j ACCEPT
-A bad_chain -j DROP
COMMIT
`

func v4(src, dst string, proto uint8, l4 []byte) *ir.Packet {
	ip := testpkt.IPv4{Src: testpkt.Addr(src), Dst: testpkt.Addr(dst), Proto: proto, TTL: 64}
	return &ir.Packet{Data: ip.Encode(l4), L3Proto: ir.EthPIP}
}

func TestTableBasic(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, basicRules)
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	in := rs.Chain("iptables.INPUT")
	if in == nil || in.Hook != ir.HookNFLocalIn || in.Policy.Kind != ir.Drop || in.HookOpts.Priorities != DefaultPriorities {
		t.Fatalf("INPUT chain: %+v", in)
	}
	if got := len(in.Rules); got != 7 {
		t.Fatalf("INPUT has %d IR rules, want 7 (guard + 6)", got)
	}
	if txt := in.Rules[3].Origin.Text; txt != `-A INPUT -p udp -m udp ! --sport 53 -m comment --comment "not dns" -j ACCEPT` {
		t.Errorf("origin text %q", txt)
	}
	bad := rs.Chain("iptables.u.bad_5fchain")
	if bad == nil || !bad.User {
		t.Fatalf("user chain bad_chain missing: %v", rs.Chains)
	}
	if v := in.Rules[6].Verdict; v.Kind != ir.Goto || v.Chain != bad.Name {
		t.Errorf("-g verdict %v", v)
	}
	if in.Rules[5].Log == nil || in.Rules[5].Log.Prefix != "syn: " || in.Rules[5].Verdict.Kind != ir.Continue {
		t.Errorf("LOG rule: %+v", in.Rules[5])
	}
	cases := []struct {
		name string
		p    *ir.Packet
		want ir.VerdictKind
	}{
		{"bad source jumps to DROP", v4("198.18.1.7", "198.18.0.1", ir.ProtoUDP, testpkt.UDP{Sport: 53, Dport: 9}.Encode()), ir.Drop},
		{"web port accepted", v4("198.18.2.7", "198.18.0.1", ir.ProtoTCP, testpkt.TCP{Sport: 999, Dport: 85}.Encode()), ir.Accept},
		{"web RETURN then falls to policy", v4("198.18.2.7", "198.18.0.1", ir.ProtoTCP, testpkt.TCP{Sport: 1000, Dport: 85}.Encode()), ir.Drop},
		{"udp not from 53 accepted", v4("198.18.2.7", "198.18.0.1", ir.ProtoUDP, testpkt.UDP{Sport: 54, Dport: 9}.Encode()), ir.Accept},
		{"udp from 53 to policy", v4("198.18.2.7", "198.18.0.1", ir.ProtoUDP, testpkt.UDP{Sport: 53, Dport: 9}.Encode()), ir.Drop},
		{"echo request accepted", v4("198.18.2.7", "198.18.0.1", ir.ProtoICMP, testpkt.ICMP{Type: 8}.Encode()), ir.Accept},
		{"other destination goes to bad_chain", v4("198.18.2.7", "198.18.0.2", ir.ProtoICMP, testpkt.ICMP{Type: 0}.Encode()), ir.Drop},
		{"IPv6 passes the IPv4 table", &ir.Packet{Data: testpkt.IPv6{Src: testpkt.Addr("fd00:198:18::1"), Dst: testpkt.Addr("fd00:198:18::2"), NextHdr: ir.ProtoUDP, HopLimit: 64}.Encode(testpkt.UDP{Sport: 1, Dport: 2}.Encode()), L3Proto: ir.EthPIPv6}, ir.Accept},
	}
	for _, c := range cases {
		if got := ir.Eval(rs, in, c.p).Verdict.Kind; got != c.want {
			t.Errorf("%s: verdict %s, want %s", c.name, got, c.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct{ rule, feature string }{
		{"-A INPUT -m conntrack --ctstate RELATED,DNAT -j ACCEPT", "--ctstate SNAT/DNAT together with other states"},
		{"-A INPUT -p tcp -j REJECT --reject-with tcp-reset", "target REJECT"},
		{"-A INPUT -j NFQUEUE --queue-num 3", "target NFQUEUE"},
		{"-A INPUT -j MARK --set-xmark 0x1/0xffffffff", "target MARK"},
	} {
		tb := restoreFilter(t, abi.IPv4, "*filter\n"+c.rule+"\nCOMMIT\n")
		rs, err := Table(tb, opts())
		var te *Error
		if !errors.As(err, &te) || te.Feature != c.feature || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("%s: got %v, %v; want a refusal of %q naming the rule", c.rule, rs, err, c.feature)
		}
	}
}

func TestRejectAsDrop(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, "*filter\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n")
	var warned []string
	o := opts()
	o.RejectAsDrop = true
	o.Warn = func(s string) { warned = append(warned, s) }
	rs, err := Table(tb, o)
	if err != nil {
		t.Fatal(err)
	}
	if v := rs.Chain("iptables.INPUT").Rules[1].Verdict.Kind; v != ir.Drop || len(warned) != 1 {
		t.Errorf("verdict %s, warnings %q", v, warned)
	}
}

func TestOtherTablesRefused(t *testing.T) {
	for _, name := range []string{"nat", "mangle", "raw", "security"} {
		tb, err := iptables.NewTable(abi.IPv4, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Table(tb, opts()); err == nil || !strings.Contains(err.Error(), "table "+name) {
			t.Errorf("table %s: %v", name, err)
		}
	}
}

func TestInterfacesAndState(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, `*filter
:INPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i veth+ -m state --state NEW -j ACCEPT
-A INPUT ! -i eth0 -m conntrack ! --ctstate INVALID,NEW -j ACCEPT
COMMIT
`)
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	in := rs.Chain("iptables.INPUT")
	const ct = 0x1000 // any pointer bits: a conntrack entry
	for _, c := range []struct {
		name, iface string
		nfct        uint64
		want        ir.VerdictKind
	}{
		{"loopback", "lo", 0, ir.Accept},
		{"lo0 is not lo", "lo0", 0, ir.Drop},
		{"established", "eth0", ct | 0, ir.Accept},
		{"established reply", "eth0", ct | 3, ir.Accept},
		{"related reply", "eth0", ct | 4, ir.Accept},
		{"new on veth", "veth7", ct | 2, ir.Accept},
		{"new on eth0", "eth0", ct | 2, ir.Drop},
		{"invalid on eth0", "eth0", 0, ir.Drop},
		{"untracked on eth1", "eth1", 7, ir.Accept},
		{"invalid on eth1", "eth1", 0, ir.Drop},
	} {
		p := v4("198.18.0.7", "198.18.0.2", ir.ProtoUDP, testpkt.UDP{Sport: 5, Dport: 6}.Encode())
		p.InIfName, p.NFCT = c.iface, c.nfct
		if got := ir.Eval(rs, in, p).Verdict.Kind; got != c.want {
			t.Errorf("%s: verdict %s, want %s", c.name, got, c.want)
		}
	}
}

func TestMultiport(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, `*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m multiport --dports 22,80:90,443 -j ACCEPT
-A INPUT -p udp -m multiport ! --sports 53,123 -j ACCEPT
COMMIT
`)
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	in := rs.Chain("iptables.INPUT")
	for _, c := range []struct {
		p    *ir.Packet
		want ir.VerdictKind
	}{
		{v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: 5, Dport: 85}.Encode()), ir.Accept},
		{v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: 5, Dport: 91}.Encode()), ir.Drop},
		{v4("198.18.0.7", "198.18.0.2", ir.ProtoUDP, testpkt.UDP{Sport: 123, Dport: 9}.Encode()), ir.Drop},
		{v4("198.18.0.7", "198.18.0.2", ir.ProtoUDP, testpkt.UDP{Sport: 124, Dport: 9}.Encode()), ir.Accept},
	} {
		if got := ir.Eval(rs, in, c.p).Verdict.Kind; got != c.want {
			t.Errorf("% x: %s, want %s", c.p.Data, got, c.want)
		}
	}
}
