// Command bpfilter-bench runs the side-by-side traffic benchmark: the same
// number of non-matching rules in iptables-legacy, nft and bpfilter (on its
// netfilter, TC and XDP hooks), 64-byte UDP frames over a veth pair between
// two throwaway network namespaces, and prints the delivered rate with its
// ratios to the no-rule rate and to nft.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/bpfilter-go/bpfilter/bench/traffic"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bpfilter-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	rules := pflag.String("rules", "0,100,1000,10000", "comma-separated rule counts")
	fws := pflag.String("firewalls", strings.Join(firewallNames(), ","), "comma-separated firewalls to measure")
	rounds := pflag.Int("rounds", 3, "interleaved samples per firewall and size (the median is reported)")
	dur := pflag.Duration("duration", time.Second, "length of one sample")
	ref := pflag.String("reference", "nft", "firewall the ratios are taken against")
	quiet := pflag.BoolP("quiet", "q", false, "do not print every sample")
	pflag.Parse()
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (creates network namespaces and loads BPF programs)")
	}
	var counts []int
	for _, s := range strings.Split(*rules, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("invalid rule count %q", s)
		}
		counts = append(counts, n)
	}
	var selected []traffic.Firewall
	for _, name := range strings.Split(*fws, ",") {
		fw, ok := lookupFirewall(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown firewall %q (known: %s)", name, strings.Join(firewallNames(), ", "))
		}
		selected = append(selected, fw)
	}
	topo, err := traffic.NewTopology()
	if err != nil {
		return err
	}
	defer topo.Close()
	gen, err := traffic.NewGenerator(topo)
	if err != nil {
		return err
	}
	defer gen.Close()
	cfg := traffic.Config{Firewalls: selected, RuleCounts: counts, Duration: *dur, Rounds: *rounds}
	if !*quiet {
		cfg.Log = os.Stderr
	}
	res, err := traffic.Run(topo, gen, cfg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Printf("traffic benchmark: 64-byte UDP over veth, XDP live-frame generator, %d rounds of %v, median; host %s\n", *rounds, *dur, host)
	traffic.WriteTable(os.Stdout, res, *ref)
	return nil
}
