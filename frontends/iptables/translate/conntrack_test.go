package translate

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// ctFlow is a conntrack entry for the tests: a TCP connection from
// 198.18.0.7:40000 to 198.18.0.2:80 (IPv6: fd00:198:18::7 to ::2).
func ctFlow(v6 bool) ir.CtEntry {
	a := func(s string) [16]byte {
		var b [16]byte
		copy(b[:], netip.MustParseAddr(s).AsSlice())
		return b
	}
	c, s := a("198.18.0.7"), a("198.18.0.2")
	if v6 {
		c, s = a("fd00:198:18::7"), a("fd00:198:18::2")
	}
	return ir.CtEntry{
		Status: ir.CtStatusSeenReply | ir.CtStatusConfirmed,
		Expire: 300,
		Orig:   ir.CtTuple{Src: c, Dst: s, Sport: 40000, Dport: 80},
		Reply:  ir.CtTuple{Src: s, Dst: c, Sport: 80, Dport: 40000},
	}
}

// TestConntrackOptions translates one conntrack match per rule and checks
// ir.Eval against conntrack_mt's semantics, written out per case: every
// criterion holds (each with its own !), packets without an entry are
// decided by --ctstate alone (false without it).
func TestConntrackOptions(t *testing.T) {
	const ct = 0x1000 // entry pointer bits
	const (
		orig    = ct | 0 // IP_CT_ESTABLISHED
		reply   = ct | 3 // IP_CT_ESTABLISHED_REPLY
		newConn = ct | 2 // IP_CT_NEW
		none    = 0      // INVALID
		untr    = 7      // UNTRACKED
		// snat is an ESTABLISHED packet of an entry whose status has
		// IPS_SRC_NAT (see below).
		snat = ct | 0x800
	)
	cases := []struct {
		fam  abi.Family
		rule string
		nfct uint64
		want bool
	}{
		{abi.IPv4, "--ctproto tcp", orig, true},
		{abi.IPv4, "--ctproto udp", orig, false},
		{abi.IPv4, "! --ctproto udp", orig, true},
		{abi.IPv4, "! --ctproto udp", none, false},
		{abi.IPv4, "--ctproto tcp", none, false},
		{abi.IPv4, "--ctstate INVALID --ctproto tcp", none, true},
		{abi.IPv4, "--ctstate INVALID ! --ctproto tcp", none, true},
		{abi.IPv4, "--ctstate UNTRACKED --ctproto udp", untr, true},
		{abi.IPv4, "--ctstate INVALID --ctproto udp", untr, false},
		{abi.IPv4, "! --ctstate NEW --ctproto udp", orig, false},
		{abi.IPv4, "! --ctstate NEW --ctproto udp", none, true},
		{abi.IPv4, "--ctstate INVALID,ESTABLISHED --ctproto udp", orig, false},
		{abi.IPv4, "--ctstate INVALID,ESTABLISHED --ctproto tcp", orig, true},
		{abi.IPv4, "--ctdir ORIGINAL", orig, true},
		{abi.IPv4, "--ctdir ORIGINAL", reply, false},
		{abi.IPv4, "--ctdir REPLY", reply, true},
		{abi.IPv4, "--ctdir REPLY", none, false},
		{abi.IPv4, "--ctorigsrc 198.18.0.7", reply, true},
		{abi.IPv4, "--ctorigsrc 198.18.0.0/24", orig, true},
		{abi.IPv4, "--ctorigsrc 198.18.1.0/24", orig, false},
		{abi.IPv4, "! --ctorigsrc 198.18.1.0/24", orig, true},
		{abi.IPv4, "--ctorigdst 198.18.0.2", orig, true},
		{abi.IPv4, "--ctreplsrc 198.18.0.2", orig, true},
		{abi.IPv4, "--ctreplsrc 198.18.0.7", orig, false},
		{abi.IPv4, "--ctrepldst 198.18.0.7/255.255.0.255", orig, true},
		{abi.IPv4, "--ctrepldst 198.18.0.8/255.255.0.255", orig, false},
		{abi.IPv6, "--ctorigsrc fd00:198:18::7", orig, true},
		{abi.IPv6, "--ctorigsrc fd00:198:18::/64", orig, true},
		{abi.IPv6, "! --ctorigdst fd00:198:18::2", orig, false},
		{abi.IPv6, "--ctreplsrc fd00:198:18::2 --ctrepldst fd00:198:18::7", reply, true},
		{abi.IPv4, "--ctorigsrcport 40000", orig, true},
		{abi.IPv4, "--ctorigsrcport 1:39999", orig, false},
		{abi.IPv4, "! --ctorigsrcport 1:39999", orig, true},
		{abi.IPv4, "--ctorigdstport 80", orig, true},
		{abi.IPv4, "--ctreplsrcport 80:81", orig, true},
		{abi.IPv4, "--ctrepldstport 40000", orig, true},
		{abi.IPv4, "--ctrepldstport 80", orig, false},
		{abi.IPv4, "--ctstatus SEEN_REPLY", orig, true},
		{abi.IPv4, "--ctstatus ASSURED", orig, false},
		{abi.IPv4, "--ctstatus ASSURED,CONFIRMED", orig, true},
		{abi.IPv4, "! --ctstatus ASSURED", orig, true},
		{abi.IPv4, "--ctstatus NONE", orig, false},
		{abi.IPv4, "! --ctstatus NONE", orig, true},
		{abi.IPv4, "! --ctstatus NONE", none, false},
		{abi.IPv4, "--ctexpire 300", orig, true},
		{abi.IPv4, "--ctexpire 0:299", orig, false},
		{abi.IPv4, "! --ctexpire 0:299", orig, true},
		{abi.IPv4, "--ctexpire 100:400", orig, true},
		{abi.IPv4, "--ctorigsrcport 40001:40000", orig, false},
		{abi.IPv4, "! --ctorigsrcport 40001:40000", orig, true},
		{abi.IPv4, "--ctstate INVALID --ctorigsrcport 40001:40000", none, true},
		{abi.IPv4, "--ctorigsrcport 40000:65536", orig, false},
		{abi.IPv4, "--ctexpire 400:300", orig, false},
		{abi.IPv4, "! --ctexpire 400:300", orig, true},
		{abi.IPv4, "! --ctexpire 400:300", none, false},
		{abi.IPv4, "--ctstate SNAT", orig, false},
		{abi.IPv4, "--ctstate SNAT", snat, true},
		{abi.IPv4, "--ctstate DNAT", snat, false},
		{abi.IPv4, "--ctstate SNAT,DNAT", snat, true},
		{abi.IPv4, "--ctstate SNAT", none, false},
		{abi.IPv4, "! --ctstate SNAT", snat, false},
		{abi.IPv4, "! --ctstate SNAT", orig, true},
		{abi.IPv4, "! --ctstate SNAT", none, true},
		{abi.IPv4, "! --ctstate SNAT --ctproto udp", none, true},
		{abi.IPv4, "! --ctstate SNAT --ctproto udp", orig, false},
		{abi.IPv4, "! --ctstate INVALID,DNAT", none, false},
		{abi.IPv4, "! --ctstate INVALID,DNAT", orig, true},
		{abi.IPv4, "! --ctstate NEW,DNAT", snat, true},
		{abi.IPv4, "! --ctstate ESTABLISHED,DNAT", snat, false},
		{abi.IPv4, "--ctstate NEW --ctdir ORIGINAL --ctorigdstport 80 --ctproto tcp", newConn, true},
		{abi.IPv4, "--ctstate NEW --ctdir ORIGINAL --ctorigdstport 81 --ctproto tcp", newConn, false},
		{abi.IPv4, "--ctstate NEW --ctdir ORIGINAL --ctorigdstport 80 --ctproto tcp", orig, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s nfct=%#x", c.fam, c.rule, c.nfct), func(t *testing.T) {
			tb := restoreFilter(t, c.fam, "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack "+c.rule+" -j ACCEPT\nCOMMIT\n")
			rs, err := Table(tb, opts())
			if err != nil {
				t.Fatal(err)
			}
			seg := testpkt.TCP{Sport: 40000, Dport: 80}.Encode()
			var p *ir.Packet
			if c.fam == abi.IPv6 {
				ip := testpkt.IPv6{Src: testpkt.Addr("fd00:198:18::7"), Dst: testpkt.Addr("fd00:198:18::2"), NextHdr: ir.ProtoTCP, HopLimit: 64}
				p = &ir.Packet{Data: ip.Encode(seg), L3Proto: ir.EthPIPv6}
			} else {
				p = v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, seg)
			}
			p.NFCT, p.CtProto, p.Ct = c.nfct, ir.ProtoTCP, ctFlow(c.fam == abi.IPv6)
			if c.nfct == snat {
				p.Ct.Status |= ir.CtStatusSrcNAT
			}
			name := "iptables.INPUT"
			if c.fam == abi.IPv6 {
				name = "ip6tables.INPUT"
			}
			got := ir.Eval(rs, rs.Chain(name), p).Verdict.Kind == ir.Accept
			if got != c.want {
				t.Errorf("matched=%v, want %v; IR rule: %v", got, c.want, rs.Chain(name).Rules[1])
			}
		})
	}
}

// TestConntrackRefusals: what conntrack_mt can express and the IR not.
func TestConntrackRefusals(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, "*filter\n-A INPUT -m conntrack --ctstate NEW,SNAT -j ACCEPT\nCOMMIT\n")
	var te *Error
	if _, err := Table(tb, opts()); !errors.As(err, &te) || te.Feature != "--ctstate SNAT/DNAT together with other states" {
		t.Errorf("--ctstate NEW,SNAT: %v", err)
	}
}
