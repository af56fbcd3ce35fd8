package iptdiff

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// hotdropImplemented says whether bpfilter implements the xt hotdrop on
// truncated transport headers (docs/HOTDROP.md, issue #4; it does: the
// xt.l4 construct). When true, TestDiffHotdrop asserts that every probe
// gets the kernel's verdict and counters. Setting it to false turns the
// test into a check that bpfilter differs from the kernel on exactly the
// known probes (hdProbe.known: every kernel hotdrop, and multiport on a
// truncated header) and agrees on all others, which is how the test was
// shown to find the missing hotdrop before the implementation landed.
const hotdropImplemented = true

// TestDiffHotdrop is the differential oracle for xt hotdrops on
// truncated L4 headers. The same rules (hdRules: tcp, udp, icmp, icmp6
// and multiport matches reached, behind a rule whose -s fails, behind an
// earlier ACCEPT, in a user chain, multiport before tcp/udp, and not
// reached because the rule's -s or an earlier -m length fails) are in
// force in the INPUT, FORWARD and OUTPUT chains of a router, with
// iptables-legacy on one topology and bpfilter on another; crafted
// packets whose IP length ends inside the TCP, UDP, ICMP or ICMPv6 header
// (complete ones too, and, through FORWARD only, first fragments with a
// truncated header and non-first IPv4 and IPv6 fragments) go through
// each one at a time. For every probe the test compares the verdict (did
// it get through) and the rule counters it moved (packets and bytes, in
// the builtin chains and the user chain), and checks the kernel's verdict
// against the table of docs/HOTDROP.md. Each difference is reported as
// "<hook> <src> > <dst> <probe> (group, mark): iptables-legacy
// dropped|passed, counters <rule +packets/bytes...>; bpfilter ...", and
// every kernel verdict is logged (go test -v). See hotdrop_harness_test.go
// for how probes are observed, and hotdropImplemented for what is
// asserted before and after bpfilter implements the hotdrop.
func TestDiffHotdrop(t *testing.T) {
	v4, v6 := hdRules(false), hdRules(true)
	r := runHotdrop(t, v4, v6, v4, v6)
	kernErrs, diffErrs := r.check(t, hotdropImplemented)
	for _, e := range append(kernErrs, diffErrs...) {
		t.Error(e)
	}
}

// TestDiffHotdropDetects checks the harness: bpfilter gets the tcp
// RETURN of the user chain on port 23 instead of 22, so the complete TCP
// probes of the user chain group leave it at its end instead (other
// counters, same verdict); TestDiffHotdrop's check must report exactly
// those probes, whatever hotdropImplemented says.
func TestDiffHotdropDetects(t *testing.T) {
	const old, changed = "-A hd -p tcp -m tcp --dport 22 -j RETURN", "-A hd -p tcp -m tcp --dport 23 -j RETURN"
	v4, v6 := hdRules(false), hdRules(true)
	bv4, bv6 := strings.Replace(v4, old, changed, 1), strings.Replace(v6, old, changed, 1)
	if bv4 == v4 || bv6 == v6 {
		t.Fatalf("%q is not in the rulesets", old)
	}
	r := runHotdrop(t, v4, v6, bv4, bv6)
	kernErrs, diffErrs := r.check(t, hotdropImplemented)
	for _, e := range kernErrs {
		t.Error(e)
	}
	want := 0
	for _, p := range r.probes {
		if p.group == hdGroupUser && strings.Contains(p.desc, "tcp 20B") {
			want++
		}
	}
	got := 0
	for _, e := range diffErrs {
		if strings.Contains(e, "user chain") && strings.Contains(e, "tcp 20B") {
			got++
		}
	}
	if got != want || len(diffErrs) != want || want == 0 {
		t.Errorf("the changed user chain rule gave %d reports, %d of them on the %d complete TCP probes of the user chain group:\n%s",
			len(diffErrs), got, want, strings.Join(diffErrs, "\n"))
	}
}

// hdResult is one run of the differential: the probes and what each
// did with iptables-legacy and with bpfilter.
type hdResult struct {
	probes    []hdProbe
	kern, bpf []hdOutcome
	// drops holds the -j DROP rules of the kernel's rulesets, by family
	// (true: IPv6).
	drops map[bool]map[hdRule]bool
}

// runHotdrop loads kv4/kv6 with iptables-legacy and bv4/bv6 with
// bpfilter, each in its own routed topology, and sends every probe
// through both.
func runHotdrop(t *testing.T, kv4, kv6, bv4, bv6 string) hdResult {
	t.Helper()
	requireEnv(t)
	testenv.RequireCommand(t, "nft")
	kern, bpf := newHdSide(t, "iptables-legacy", true), newHdSide(t, "bpfilter", false)
	kern.load(t, kv4, kv6)
	bpf.load(t, bv4, bv6)
	r := hdResult{probes: hdProbes(), drops: map[bool]map[hdRule]bool{false: hdDropRules(kv4), true: hdDropRules(kv6)}}
	r.kern, r.bpf = kern.run(t, r.probes), bpf.run(t, r.probes)
	return r
}

// check logs the kernel's verdict for every probe and returns the
// kernel's departures from docs/HOTDROP.md and the differences that
// should not be: any when implemented, else those on probes that are not
// known, and the absence of one on a known probe.
func (r hdResult) check(t *testing.T, implemented bool) (kernErrs, diffErrs []string) {
	t.Helper()
	var diffs, known int
	for i, p := range r.probes {
		k, b := r.kern[i], r.bpf[i]
		got := k.verdict(r.drops[p.v6])
		t.Logf("kernel: %s: %s; counters %s", p.desc, got, k.countedString())
		if got != p.want {
			kernErrs = append(kernErrs, fmt.Sprintf("kernel: %s: %s, docs/HOTDROP.md says %s (counters %s)", p.desc, got, p.want, k.countedString()))
		}
		if p.known {
			known++
		}
		same := k.dropped == b.dropped && slices.Equal(k.counted, b.counted)
		if !same {
			diffs++
		}
		report := fmt.Sprintf("%s: iptables-legacy %s, counters %s; bpfilter %s, counters %s",
			p.desc, dropWord(k.dropped), k.countedString(), dropWord(b.dropped), b.countedString())
		switch {
		case implemented && !same:
			diffErrs = append(diffErrs, "difference: "+report)
		case !implemented && same && p.known:
			diffErrs = append(diffErrs, "expected bpfilter without the hotdrop to differ, it agrees: "+report)
		case !implemented && !same && !p.known:
			diffErrs = append(diffErrs, "difference on a probe that does not depend on the hotdrop: "+report)
		case !same:
			t.Logf("known difference (hotdropImplemented = false): %s", report)
		}
	}
	t.Logf("%d probes, %d differences (%d probes known to differ without the hotdrop), %d reported; hotdropImplemented = %v",
		len(r.probes), diffs, known, len(diffErrs), implemented)
	return kernErrs, diffErrs
}

// hdOutcome is what one probe did on one side.
type hdOutcome struct {
	dropped bool
	// counted lists the rules whose counters the probe moved, sorted.
	counted []hdCount
}

// verdict classifies a kernel outcome given the chain's DROP rules.
func (o hdOutcome) verdict(dropRules map[hdRule]bool) hdVerdict {
	if !o.dropped {
		return hdAccept
	}
	for _, c := range o.counted {
		if dropRules[c.rule] {
			return hdRuleDrop
		}
	}
	return hdHotdrop
}

func (o hdOutcome) countedString() string {
	if len(o.counted) == 0 {
		return "none"
	}
	s := make([]string, len(o.counted))
	for i, c := range o.counted {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}

func dropWord(dropped bool) string {
	if dropped {
		return "dropped"
	}
	return "passed"
}

// run sends the probes one at a time through F and returns their
// outcomes (hotdrop_harness_test.go describes the observation).
func (sd *hdSide) run(t *testing.T, probes []hdProbe) []hdOutcome {
	t.Helper()
	unpin := pinThread(t)
	defer unpin()
	out := make([]hdOutcome, len(probes))
	before := map[bool]hdCounts{false: sd.counters(t, false), true: sd.counters(t, true)}
	for i, p := range probes {
		var err error
		switch p.hook {
		case "OUTPUT":
			out[i].dropped, err = sd.sendOutput(p.ip, p.dst)
		default:
			fenceDst, fd := hdF4, sd.fence4
			switch {
			case p.hook == "FORWARD" && p.v6:
				fenceDst, fd = hdR6, sd.tap
			case p.hook == "FORWARD":
				fenceDst, fd = hdR4, sd.tap
			case p.v6:
				fenceDst, fd = hdF6, sd.fence6
			}
			marker := []byte(fmt.Sprintf("BFHDFENCE%08x", i))
			if err = sd.sendFrame(p.ip, p.v6); err == nil {
				err = sd.sendFrame(hdFence(fenceDst, marker), p.v6)
			}
			var saw bool
			if err == nil {
				saw, err = sd.waitFence(fd, marker, p.mark, p.v6)
			}
			if p.hook == "FORWARD" {
				out[i].dropped = !saw
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", p.desc, err)
		}
		after := sd.counters(t, p.v6)
		out[i].counted = after.delta(before[p.v6])
		before[p.v6] = after
	}
	seen := map[bool]map[uint32]bool{false: sd.seenInput(t, false), true: sd.seenInput(t, true)}
	for i, p := range probes {
		if p.hook == "INPUT" {
			out[i].dropped = !seen[p.v6][p.mark]
		}
	}
	return out
}
