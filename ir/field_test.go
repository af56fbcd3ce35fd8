package ir

import "testing"

// upstreamSockAddr lists, per cgroup sock_addr hook, the matchers upstream
// bfcli documents as supported (bfcli.rst, "Chains"): a common set, plus
// tcp.dport on connect hooks and source addresses on sendmsg hooks; IPv4
// matchers only on the *4 hooks and IPv6 matchers only on the *6 hooks.
var upstreamSockAddr = map[Hook][]string{
	HookCgroupSockAddrConnect4: {"meta.l3_proto", "meta.l4_proto", "meta.probability", "meta.dport",
		"ip4.daddr", "ip4.dnet", "ip4.proto", "udp.dport", "tcp.dport"},
	HookCgroupSockAddrConnect6: {"meta.l3_proto", "meta.l4_proto", "meta.probability", "meta.dport",
		"ip6.daddr", "ip6.dnet", "udp.dport", "tcp.dport"},
	HookCgroupSockAddrSendmsg4: {"meta.l3_proto", "meta.l4_proto", "meta.probability", "meta.dport",
		"ip4.daddr", "ip4.dnet", "ip4.proto", "udp.dport", "ip4.saddr", "ip4.snet"},
	HookCgroupSockAddrSendmsg6: {"meta.l3_proto", "meta.l4_proto", "meta.probability", "meta.dport",
		"ip6.daddr", "ip6.dnet", "udp.dport", "ip6.saddr", "ip6.snet"},
}

// upstreamPacketHooks lists the packet-hook restrictions upstream
// documents; every other matcher is valid on every packet hook.
var upstreamPacketHooks = map[string]func(Hook) bool{
	"meta.mark":             func(h Hook) bool { return h != HookXDP },
	"meta.flow_hash":        func(h Hook) bool { return h == HookTCIngress || h == HookTCEgress },
	"meta.flow_probability": func(h Hook) bool { return h == HookXDP || h.Flavour() == FlavourTC || h.Flavour() == FlavourCgroupSkb },
}

// iptablesFields are the fields added for the iptables frontend: they
// exist on netfilter hooks only, are not set keys, and ct.state takes any.
var iptablesFields = map[string]bool{"meta.iifname": true, "meta.oifname": true, "ct.state": true, "ct.proto": true}

// iptablesHeaderFields are header fields added for the iptables frontend:
// valid on every packet hook, not set keys, eq and range (and ranges),
// except ip4.fragoff (eq only).
var iptablesHeaderFields = map[string]bool{"ip4.len": true, "ip6.plen": true, "ip4.ttl": true, "ip6.hoplimit": true, "ip4.fragoff": true}

func TestIptablesHeaderFields(t *testing.T) {
	for _, f := range Fields() {
		if !iptablesHeaderFields[f.String()] {
			continue
		}
		for _, h := range Hooks() {
			if got, want := f.ValidOn(h), !h.IsSockAddr(); got != want {
				t.Errorf("%s on %s: ValidOn = %v, want %v", f, h, got, want)
			}
		}
		rng := f != IP4FragOff
		if f.Info().InSet || !f.SupportsOp(OpEq) || f.SupportsOp(OpRange) != rng || f.SupportsOp(OpRanges) != rng || f.SupportsOp(OpAny) {
			t.Errorf("%s: wrong set or operator support", f)
		}
	}
}

func TestIptablesFields(t *testing.T) {
	for _, f := range Fields() {
		if !iptablesFields[f.String()] {
			continue
		}
		for _, h := range Hooks() {
			if got, want := f.ValidOn(h), h.Flavour() == FlavourNF; got != want {
				t.Errorf("%s on %s: ValidOn = %v, want %v", f, h, got, want)
			}
		}
		if f.Info().InSet || !f.SupportsOp(OpEq) || f.SupportsOp(OpRange) || f.SupportsOp(OpAny) != (f == CtState) {
			t.Errorf("%s: wrong set or operator support", f)
		}
	}
}

func TestFieldHooksMatchUpstream(t *testing.T) {
	for _, h := range Hooks() {
		allowed := map[string]bool{}
		if names, ok := upstreamSockAddr[h]; ok {
			for _, n := range names {
				allowed[n] = true
			}
		}
		for _, f := range Fields() {
			if iptablesFields[f.String()] || iptablesHeaderFields[f.String()] || isAddrTypeField(f) || IsCtEntryField(f) || pktMatchFields[f.String()] {
				continue
			}
			want := allowed[f.String()]
			if !h.IsSockAddr() {
				want = true
				if rule, ok := upstreamPacketHooks[f.String()]; ok {
					want = rule(h)
				}
			}
			if got := f.ValidOn(h); got != want {
				t.Errorf("%s on %s: ValidOn = %v, upstream says %v", f, h, got, want)
			}
		}
	}
}

func TestFieldSetKeysMatchUpstream(t *testing.T) {
	// Upstream: "meta.dport and meta.sport are not supported in sets";
	// tcp.flags and the probability and flow hash matchers have no set
	// form in the matcher tables.
	notInSet := map[string]bool{"meta.sport": true, "meta.dport": true, "tcp.flags": true,
		"meta.probability": true, "meta.flow_probability": true, "meta.flow_hash": true}
	for _, f := range Fields() {
		if iptablesFields[f.String()] || iptablesHeaderFields[f.String()] || isAddrTypeField(f) || IsCtEntryField(f) || pktMatchFields[f.String()] {
			continue
		}
		if got, want := f.Info().InSet, !notInSet[f.String()]; got != want {
			t.Errorf("%s: InSet = %v, want %v", f, got, want)
		}
		if !f.SupportsOp(OpEq) {
			t.Errorf("%s does not support eq", f)
		}
	}
}

func TestFieldOpsMatchUpstream(t *testing.T) {
	rangeFields := map[string]bool{"meta.sport": true, "meta.dport": true, "meta.flow_hash": true,
		"tcp.sport": true, "tcp.dport": true, "udp.sport": true, "udp.dport": true}
	for _, f := range Fields() {
		if iptablesFields[f.String()] || iptablesHeaderFields[f.String()] || isAddrTypeField(f) || IsCtEntryField(f) || pktMatchFields[f.String()] {
			continue
		}
		if got := f.SupportsOp(OpRange); got != rangeFields[f.String()] {
			t.Errorf("%s: range supported = %v, want %v", f, got, !got)
		}
		flags := f == TCPFlags
		if f.SupportsOp(OpAny) != flags || f.SupportsOp(OpAll) != flags {
			t.Errorf("%s: any/all support is wrong", f)
		}
	}
}
