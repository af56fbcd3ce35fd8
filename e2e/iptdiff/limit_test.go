package iptdiff

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// limitV4 and limitV6: token buckets before and after other matches. A
// limit placed before a port match takes a token from every packet that
// reaches it, whatever its port: rule 3's bucket is emptied by the 7001
// packets the first limit refused, and later 7003 packets find it empty.
// Pings go through the user chain dos twice: both call sites take tokens
// from its one bucket. Only echo requests are limited in IPv6, so the
// neighbour discovery and MLD packets the kernel sends cannot take
// tokens at times that differ between the sides.
const limitV4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:dos - [0:0]
-A INPUT -p udp -m udp --dport 7001 -m limit --limit 1/sec --limit-burst 5 -j ACCEPT
-A INPUT -p udp -m udp --dport 7002 -m limit --limit 1/min --limit-burst 3 -j ACCEPT
-A INPUT -p udp -m limit --limit 1/hour --limit-burst 4 -m udp --dport 7003 -j ACCEPT
-A INPUT -p udp -m udp --dport 7004 -j ACCEPT
-A INPUT -p icmp -j dos
-A INPUT -p icmp -j dos
-A INPUT -p icmp -j ACCEPT
-A dos -p icmp -m icmp --icmp-type 8 -m limit --limit 2/min --limit-burst 7 -j RETURN
-A dos -p icmp -m icmp --icmp-type 8 -j DROP
COMMIT
`

const limitV6 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m udp --dport 7001 -m limit --limit 1/sec --limit-burst 5 -j ACCEPT
-A INPUT -p udp -m limit --limit 1/hour --limit-burst 4 -m udp --dport 7003 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m limit --limit 3/hour --limit-burst 2 -j ACCEPT
COMMIT
`

// burstProbes returns n packets of one kind from S to R, numbered from
// first.
func burstProbes(first uint32, n int, v6 bool, h l4, recv4, recv6 netip.Addr) []probe {
	src, dst := senderV4, recv4
	if v6 {
		src, dst = senderV6, recv6
	}
	out := make([]probe, 0, n)
	for i := 0; i < n; i++ {
		m := markerFor(first + uint32(i))
		out = append(out, probe{desc: describe(src, dst, h, 64), v6: v6, marker: m, ip: ipPacket(src, dst, h.proto, 64, h.encode(src, dst, m))})
	}
	return out
}

// TestDiffLimitBurst sends fast bursts (64 packets back to back per
// batch, interleaved between the two sides, well under a second in all,
// with rates of at most 1/sec) through the same limit ruleset in
// iptables-legacy and bpfilter: the same packets pass. Refills during the
// test are at most one token of the 1/sec bucket and happen on both sides
// within microseconds of each other (the probes alternate between the
// sides), so no tolerance is allowed.
func TestDiffLimitBurst(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	kern.loadKernel(t, limitV4, limitV6)
	bpf.loadBpfilter(t, limitV4, limitV6)
	udp := func(port uint16) l4 { return l4{proto: 17, sport: 4000, dport: port} }
	var probes []probe
	add := func(n int, v6 bool, h l4) {
		probes = append(probes, burstProbes(uint32(len(probes)), n, v6, h, kern.recv4, kern.recv6)...)
	}
	add(2, false, udp(7003))                   // 2 of rule 3's 4 tokens
	add(20, false, udp(7001))                  // 5 pass; 15 go on to rule 3, taking its last 2
	add(10, false, udp(7002))                  // 3 pass; the rest take nothing left from rule 3
	add(3, false, udp(7003))                   // rule 3 is empty: dropped
	add(5, false, udp(7004))                   // pass by rule 4
	add(12, false, l4{proto: 1, icmpType: 8})  // two call sites share dos's 7 tokens: 3 pass
	add(4, false, l4{proto: 1, icmpType: 0})   // not limited: pass
	add(3, true, udp(7003))                    // 3 of 4
	add(12, true, udp(7001))                   // 5 pass, 7 take the last token of rule 2
	add(2, true, udp(7003))                    // dropped
	add(5, true, l4{proto: 58, icmpType: 128}) // 2 pass
	got := deliver(t, sides, probes)
	var bad, delivered int
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
		}
		if got[0][id] != got[1][id] {
			bad++
			t.Errorf("probe %d %s: iptables-legacy delivered=%v, bpfilter delivered=%v", i, p.desc, got[0][id], got[1][id])
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences", len(probes), delivered, bad)
	// The expected counts follow from the comments above.
	if want := 2 + 5 + 3 + 5 + 3 + 4 + 3 + 5 + 2; delivered != want {
		t.Errorf("iptables-legacy delivered %d probes, want %d", delivered, want)
	}
}

// synologyLAN maps the Synology hosts' LAN (accepted after the DOS_PROTECT
// chain) to the test network, so that what the limits let through is seen
// at the receiver.
var synologyLAN = strings.NewReplacer("192.168.0.0/16", "198.18.0.0/16")

// TestDiffRealWorldSynology runs the Synology DiskStation rulesets, whose
// DOS_PROTECT chain rate-limits pings, RSTs and SYNs with -m limit
// (external interface eth0 mapped to the test link). Random probes over
// about a second: the 1/sec buckets can refill once while the probes are
// sent, and a refill tick that falls between the copy of a probe sent to
// one side and the copy sent to the other (microseconds apart) changes
// one verdict; at most one such difference per refilling bucket is
// tolerated (the two 1/sec buckets of eth0: pings and RSTs).
func TestDiffRealWorldSynology(t *testing.T) {
	v4 := readFilter(t, filepath.Join(realWorldDir, "hosts", "Synology_Diskstation_DS414_iptables-save"))
	v6 := readFilter(t, filepath.Join(realWorldDir, "hosts", "Synology_Diskstation_DS414_ip6tables-save_jul_2016"))
	eth0 := regexp.MustCompile(`\beth0\b`)
	v4 = synologyLAN.Replace(eth0.ReplaceAllString(v4, "@IF@"))
	v6 = eth0.ReplaceAllString(v6, "@IF@")
	bad := differences(t, v4, v6, v4, v6, 300, 12, false)
	if bad > 2 {
		t.Errorf("%d packets got different verdicts (at most 2 refill races tolerated)", bad)
	}
	if bad > 0 {
		t.Logf("%d differences, within the refill tolerance", bad)
	}
}

// TestDiffSynologyLimitsObservable checks that the Synology comparison
// sees the limits: with the ping and RST buckets ten times deeper on the
// bpfilter side, more than the tolerated packets differ.
func TestDiffSynologyLimitsObservable(t *testing.T) {
	v4 := readFilter(t, filepath.Join(realWorldDir, "hosts", "Synology_Diskstation_DS414_iptables-save"))
	v4 = synologyLAN.Replace(regexp.MustCompile(`\beth0\b`).ReplaceAllString(v4, "@IF@"))
	deeper := strings.ReplaceAll(v4, "--limit 1/sec -j RETURN", "--limit 1/sec --limit-burst 50 -j RETURN")
	if deeper == v4 {
		t.Fatal("the Synology ruleset has no 1/sec limit to change")
	}
	if bad := differences(t, v4, "", deeper, "", 300, 12, false); bad <= 2 {
		t.Errorf("deeper buckets gave %d differences: the limits are not observable", bad)
	}
}

// TestDiffLimitRefill: 10/sec with a burst of 5, two bursts of 10
// packets about 450 ms apart (deliver waits 150 ms after a burst, then
// 300 ms more): 5 pass, then the 4 tokens earned meanwhile (3 to 5 are
// accepted: the gap depends on scheduling). The copies of a probe
// reach the two sides microseconds apart, so a refill tick can fall
// between them: at most one differing probe is tolerated.
func TestDiffLimitRefill(t *testing.T) {
	requireEnv(t)
	const v4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m udp --dport 7005 -m limit --limit 10/sec -j ACCEPT
COMMIT
`
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	kern.loadKernel(t, v4, "")
	bpf.loadBpfilter(t, v4, "")
	h := l4{proto: 17, sport: 4000, dport: 7005}
	first := burstProbes(0, 10, false, h, kern.recv4, kern.recv6)
	second := burstProbes(10, 10, false, h, kern.recv4, kern.recv6)
	got := deliver(t, sides, first)
	time.Sleep(300 * time.Millisecond)
	more := deliver(t, sides, second)
	var bad, delivered, delivered1 int
	for i := range 20 {
		id := uint32(i)
		k, b := got[0][id] || more[0][id], got[1][id] || more[1][id]
		if k {
			delivered++
			if i < 10 {
				delivered1++
			}
		}
		if k != b {
			bad++
			t.Logf("probe %d: iptables-legacy delivered=%v, bpfilter delivered=%v", i, k, b)
		}
	}
	t.Logf("iptables-legacy delivered %d (%d of the first burst), %d differences", delivered, delivered1, bad)
	if delivered1 != 5 || delivered < 8 || delivered > 10 {
		t.Errorf("iptables-legacy delivered %d then %d, want 5 then 3 to 5", delivered1, delivered-delivered1)
	}
	if bad > 1 {
		t.Errorf("%d probes delivered differently (at most one refill race tolerated)", bad)
	}
}
