package optimizer

import (
	"fmt"
	"slices"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Build plans chain c. It is pure and deterministic: the same chain and
// options give the same plan. The chain must be valid (ir.Chain.Validate).
func Build(c *ir.Chain, opts Options) (*Plan, error) {
	if c == nil {
		return nil, fmt.Errorf("optimizer: nil chain")
	}
	for i, r := range c.Rules {
		if r == nil {
			return nil, fmt.Errorf("optimizer: chain %s: rule %d is nil", c.Name, i)
		}
	}
	sh := findShared(c, opts.Previous) // shared.go
	if err := sh.validate(c); err != nil {
		return nil, fmt.Errorf("optimizer: chain %s: %w", c.Name, err)
	}
	if prev := opts.Previous; prev != nil {
		opts = inheritOptions(opts, prev.opts)
	}
	fps := sh.fingerprints(c)
	ida, err := assignIDsMatch(fps, opts.Previous, opts.CounterHeadroom)
	if err != nil {
		return nil, fmt.Errorf("optimizer: chain %s: %w", c.Name, err)
	}
	infos, idCap := ida.infos, ida.idCap
	inc := newIncremental(c, opts.Previous, ida, opts)
	srs := make([]*shapeRule, len(c.Rules))
	why := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		if opts.Linear {
			why[i] = "classification disabled"
			continue
		}
		set := usesSet(r)
		if opts.LiveSets && set {
			why[i] = "set match (live set)"
			continue
		}
		if prev := opts.Previous; prev != nil && prev.classified != nil && prev.opts.LiveSets == opts.LiveSets &&
			ida.match[i] >= 0 && !set {
			// Same content as a previous rule: same classification.
			srs[i], why[i] = prev.classified[ida.match[i]], prev.classWhy[ida.match[i]]
			continue
		}
		// xt.l4 constructs classify as their fast form: packets that
		// need their exact form (ir.XTL4SlowPath) never reach a lookup
		// (Plan.xtl4, eval.go).
		srs[i], why[i] = classify(c, ir.XTL4FastRule(c, r))
	}
	// classified and classWhy share srs and why until a rule goes over
	// the range replication budget (rare): then srs and why are copied.
	classified, classWhy := srs, why
	segs := segmentRules(srs, opts.maxTables())
	var segClasses [][]ClassMap
	kb := newKnownBudget(opts, ida.match) // replication.go
	// Every round marks at least one more rule linear, so the loop ends;
	// usually one re-segmentation settles it, as splitting a segment only
	// shrinks the class counts of the rules left in it.
	for {
		over, cms := checkReplication(srs, segs, opts.maxReplication(), kb)
		if len(over) == 0 {
			segClasses = cms // the class maps of the final segments
			break
		}
		if len(srs) > 0 && &srs[0] == &classified[0] {
			srs, why = slices.Clone(srs), slices.Clone(why)
		}
		for _, i := range over {
			srs[i] = nil
			why[i] = fmt.Sprintf("range replication over budget (more than %d classes)", opts.maxReplication())
		}
		segs = segmentRules(srs, opts.maxTables())
	}
	var prevSegs []Segment
	if opts.Previous != nil {
		prevSegs = opts.Previous.Segments
	}
	for si := range segs {
		s := &segs[si]
		for i := s.First; i < s.End; i++ {
			infos[i].Segment = si
			infos[i].Classified = s.Kind == SegLookup
			if s.Kind == SegLinear {
				infos[i].Why = why[i]
			}
		}
		if s.Kind == SegLookup {
			var prev *Segment
			if si < len(prevSegs) && prevSegs[si].Kind == SegLookup {
				prev = &prevSegs[si]
			}
			if inc == nil || !inc.tables(srs, infos, s, prev, segClasses[si]) {
				buildTables(srs, infos, s, opts, prev, segClasses[si])
			}
		}
	}
	kept := opts
	kept.Previous = nil
	p := &Plan{Chain: c, Segments: segs, Rules: infos, IDCap: idCap, fingerprints: fps, opts: kept,
		classified: classified, classWhy: classWhy}
	p.byID = make([]int, idCap)
	for id := range p.byID {
		p.byID[id] = -1
	}
	for i, ri := range infos {
		p.byID[ri.ID] = i
	}
	p.xtl4 = sh.hasXTL4(c)
	p.Stats = computeStats(p)
	return p, nil
}

// inheritOptions fills the zero knobs of o from the previous build's, so
// Options{Previous: old} plans with the same settings as old.
func inheritOptions(o, prev Options) Options {
	if o.MaxTables == 0 {
		o.MaxTables = prev.MaxTables
	}
	if o.InlineMax == 0 {
		o.InlineMax = prev.InlineMax
	}
	if o.MaxReplication == 0 {
		o.MaxReplication = prev.MaxReplication
	}
	if !o.Linear {
		o.Linear = prev.Linear
	}
	return o
}
