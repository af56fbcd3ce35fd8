package iptdiff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Rule counters of the hotdrop differential: iptables-save -c on the
// kernel side, the engine's counter maps on bpfilter's, both keyed by
// iptables chain and rule position.

// hdRule names a rule: its chain and 1-based position in it.
type hdRule struct {
	chain string
	n     int
}

func (r hdRule) String() string { return fmt.Sprintf("%s#%d", r.chain, r.n) }

// hdCounts holds rule counters: packets and bytes.
type hdCounts map[hdRule][2]uint64

// hdCount is what one rule's counters moved by.
type hdCount struct {
	rule           hdRule
	packets, bytes uint64
}

func (c hdCount) String() string { return fmt.Sprintf("%s +%d/%dB", c.rule, c.packets, c.bytes) }

// counters reads F's rule counters of one family.
func (sd *hdSide) counters(t *testing.T, v6 bool) hdCounts {
	t.Helper()
	if sd.kernel {
		cmd := "iptables-legacy-save"
		if v6 {
			cmd = "ip6tables-legacy-save"
		}
		out, err := sd.rt.Router.Run(cmd, "-c", "-t", "filter")
		if err != nil {
			t.Fatalf("%s: %v", sd.name, err)
		}
		cs, err := parseSaveCounters(out)
		if err != nil {
			t.Fatalf("%s: %s: %v", sd.name, cmd, err)
		}
		return cs
	}
	fam := "4/"
	if v6 {
		fam = "6/"
	}
	cs := hdCounts{}
	for key, ch := range sd.chains {
		if !strings.HasPrefix(key, fam) {
			continue
		}
		c, err := ch.Counters()
		if err != nil {
			t.Fatalf("%s: %v", sd.name, err)
		}
		// Rule 0 of a builtin chain is the translator's family guard; the
		// iptables rules follow in order.
		for i := 1; i < len(c.Rules); i++ {
			cs[hdRule{strings.TrimPrefix(key, fam), i}] = [2]uint64{c.Rules[i].Packets, c.Rules[i].Bytes}
		}
		for ukey, irName := range sd.user {
			if !strings.HasPrefix(ukey, fam) {
				continue
			}
			for i, rc := range c.User[irName] {
				k := hdRule{strings.TrimPrefix(ukey, fam), i + 1}
				v := cs[k]
				cs[k] = [2]uint64{v[0] + rc.Packets, v[1] + rc.Bytes}
			}
		}
	}
	return cs
}

// parseSaveCounters reads the "[packets:bytes] -A CHAIN ..." lines of
// iptables-save -c.
func parseSaveCounters(out string) (hdCounts, error) {
	cs := hdCounts{}
	n := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		var p, b uint64
		var chain string
		if _, err := fmt.Sscanf(line, "[%d:%d] -A %s", &p, &b, &chain); err != nil {
			return nil, fmt.Errorf("counter line %q: %w", line, err)
		}
		n[chain]++
		cs[hdRule{chain, n[chain]}] = [2]uint64{p, b}
	}
	return cs, nil
}

// delta lists the rules whose counters moved from before to after,
// sorted by chain and position.
func (after hdCounts) delta(before hdCounts) []hdCount {
	var out []hdCount
	for k, a := range after {
		if b := before[k]; a != b {
			out = append(out, hdCount{k, a[0] - b[0], a[1] - b[1]})
		}
	}
	slices.SortFunc(out, func(x, y hdCount) int {
		return cmp.Or(strings.Compare(x.rule.chain, y.rule.chain), cmp.Compare(x.rule.n, y.rule.n))
	})
	return out
}
