package traffic

import (
	"fmt"
	"strings"
)

// Firewall is one system under test: it installs a ruleset of n rules in the
// DUT namespace that does not match the generated traffic (so every packet
// walks the whole ruleset and is accepted), and removes it again.
type Firewall interface {
	// Name identifies the firewall in reports, e.g. "iptables-legacy".
	Name() string
	// Install puts n non-matching rules in front of an accepting policy.
	Install(t *Topology, n int) error
	// Remove takes the ruleset away.
	Remove(t *Topology) error
}

// NonMatchingAddr is the source address of the i-th benchmark rule: never
// the generator's address.
func NonMatchingAddr(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
}

// None is the baseline: no firewall at all.
type None struct{}

// Name implements Firewall.
func (None) Name() string { return "none" }

// Install implements Firewall.
func (None) Install(*Topology, int) error { return nil }

// Remove implements Firewall.
func (None) Remove(*Topology) error { return nil }

// IptablesLegacy installs rules in the INPUT chain with iptables-legacy-restore.
type IptablesLegacy struct{}

// Name implements Firewall.
func (IptablesLegacy) Name() string { return "iptables-legacy" }

// Install implements Firewall.
func (IptablesLegacy) Install(t *Topology, n int) error {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-A INPUT -s %s/32 -j DROP\n", NonMatchingAddr(i))
	}
	b.WriteString("COMMIT\n")
	return t.DUT.RunStdin(b.String(), "iptables-legacy-restore")
}

// Remove implements Firewall.
func (IptablesLegacy) Remove(t *Topology) error {
	if err := t.DUT.Run("iptables-legacy", "-F", "INPUT"); err != nil {
		return err
	}
	return t.DUT.Run("iptables-legacy", "-X")
}

// Nft installs rules in an ip table's input chain with `nft -f`, one rule
// per address (the linear shape iptables users port over).
type Nft struct{}

// Name implements Firewall.
func (Nft) Name() string { return "nft" }

// Install implements Firewall.
func (Nft) Install(t *Topology, n int) error {
	var b strings.Builder
	b.WriteString("table ip bfbench {\n  chain input {\n    type filter hook input priority filter; policy accept;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "    ip saddr %s drop\n", NonMatchingAddr(i))
	}
	b.WriteString("  }\n}\n")
	return t.DUT.RunStdin(b.String(), "nft", "-f", "-")
}

// Remove implements Firewall.
func (Nft) Remove(t *Topology) error {
	return t.DUT.Run("nft", "delete", "table", "ip", "bfbench")
}
