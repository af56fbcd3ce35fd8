package main

import (
	"github.com/bpfilter-go/bpfilter/bench/traffic"
	"github.com/bpfilter-go/bpfilter/ir"
)

// firewalls are the systems the benchmark can measure, by name.
var firewalls = []traffic.Firewall{
	traffic.None{},
	traffic.IptablesLegacy{},
	traffic.Nft{},
	&traffic.Bpfilter{Hook: ir.HookNFLocalIn},
	&traffic.Bpfilter{Hook: ir.HookTCIngress},
	&traffic.Bpfilter{Hook: ir.HookXDP},
}

func firewallNames() []string {
	var n []string
	for _, f := range firewalls {
		n = append(n, f.Name())
	}
	return n
}

func lookupFirewall(name string) (traffic.Firewall, bool) {
	for _, f := range firewalls {
		if f.Name() == name {
			return f, true
		}
	}
	return nil, false
}
