package traffic

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Config describes a benchmark run.
type Config struct {
	Firewalls []Firewall
	// RuleCounts are the ruleset sizes to measure.
	RuleCounts []int
	// Duration of one sample and samples per (firewall, size); samples are
	// interleaved across firewalls so drift affects all alike.
	Duration time.Duration
	Rounds   int
	// Log receives progress lines (nil: quiet).
	Log io.Writer
}

// Result is the median delivered rate of one firewall at one size.
type Result struct {
	Firewall string
	Rules    int
	// PPS is the median delivered packets per second; NsPerPacket its
	// inverse.
	PPS         float64
	NsPerPacket float64
	// Lost counts packets sent but not delivered, summed over the samples.
	Lost uint64
	// Err is why the firewall could not be measured at this size (for
	// example a ruleset it cannot load); the other fields are zero then.
	Err error
}

// Run measures every firewall at every size. For each size, each round
// installs each firewall in turn, sends one sample and removes it again.
func Run(t *Topology, g *Generator, cfg Config) ([]Result, error) {
	var out []Result
	for _, n := range cfg.RuleCounts {
		samples := make(map[string][]float64)
		lost := make(map[string]uint64)
		failed := make(map[string]error)
		for round := 0; round < cfg.Rounds; round++ {
			for _, fw := range cfg.Firewalls {
				if failed[fw.Name()] != nil {
					continue
				}
				s, err := measure(t, g, fw, n, cfg.Duration)
				if err != nil {
					failed[fw.Name()] = err
					if cfg.Log != nil {
						fmt.Fprintf(cfg.Log, "%-22s rules=%-6d failed: %v\n", fw.Name(), n, err)
					}
					continue
				}
				samples[fw.Name()] = append(samples[fw.Name()], s.PPS())
				lost[fw.Name()] += s.Sent - s.Delivered
				if cfg.Log != nil {
					fmt.Fprintf(cfg.Log, "%-22s rules=%-6d round=%d %10.0f pps (%d/%d delivered in %v)\n",
						fw.Name(), n, round, s.PPS(), s.Delivered, s.Sent, s.Elapsed.Round(time.Millisecond))
				}
			}
		}
		for _, fw := range cfg.Firewalls {
			if err := failed[fw.Name()]; err != nil {
				out = append(out, Result{Firewall: fw.Name(), Rules: n, Err: err})
				continue
			}
			pps := median(samples[fw.Name()])
			r := Result{Firewall: fw.Name(), Rules: n, PPS: pps, Lost: lost[fw.Name()]}
			if pps > 0 {
				r.NsPerPacket = 1e9 / pps
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func measure(t *Topology, g *Generator, fw Firewall, n int, d time.Duration) (s Sample, err error) {
	if err := fw.Install(t, n); err != nil {
		return s, fmt.Errorf("install: %w", err)
	}
	defer func() {
		if rerr := fw.Remove(t); rerr != nil && err == nil {
			err = fmt.Errorf("remove: %w", rerr)
		}
	}()
	return g.SendFor(d)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints the results: per size, each firewall's rate, its ratio
// to its own rate with no rules (the first size when it is 0), and its ratio
// to the reference firewall (e.g. "nft") at the same size.
func WriteTable(w io.Writer, results []Result, reference string) {
	base := map[string]float64{}
	ref := map[int]float64{}
	for _, r := range results {
		if r.Rules == 0 {
			base[r.Firewall] = r.PPS
		}
		if r.Firewall == reference {
			ref[r.Rules] = r.PPS
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "firewall\trules\tMpps\tns/pkt\tvs own 0 rules\tvs %s\t\n", reference)
	var notes []string
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t%d\tn/a\t-\t-\t-\t\n", r.Firewall, r.Rules)
			notes = append(notes, fmt.Sprintf("%s with %d rules: %v", r.Firewall, r.Rules, r.Err))
			continue
		}
		own, vsRef := "-", "-"
		if b := base[r.Firewall]; b > 0 {
			own = fmt.Sprintf("%.0f%%", 100*r.PPS/b)
		}
		if x := ref[r.Rules]; x > 0 {
			vsRef = fmt.Sprintf("%.2fx", r.PPS/x)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.0f\t%s\t%s\t\n", r.Firewall, r.Rules, r.PPS/1e6, r.NsPerPacket, own, vsRef)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "n/a:", n)
	}
}
