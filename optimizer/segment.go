package optimizer

// segmentRules splits the rules into linear segments (srs[i] == nil) and
// lookup segments of at most maxTables shapes (match-all rules, whose shape
// is empty, cost no lookup and are not counted).
func segmentRules(srs []*shapeRule, maxTables int) []Segment {
	var segs []Segment
	var shapes map[string]bool
	last := "" // the shape of the previous rule, already in shapes
	for i, sr := range srs {
		ls := len(segs) - 1
		if sr == nil {
			if ls >= 0 && segs[ls].Kind == SegLinear {
				segs[ls].End = i + 1
				continue
			}
			segs = append(segs, Segment{Kind: SegLinear, First: i, End: i + 1})
			continue
		}
		if ls >= 0 && segs[ls].Kind == SegLookup {
			if sr.shape == "" || sr.shape == last || shapes[sr.shape] {
				segs[ls].End = i + 1
				last = sr.shape
				continue
			}
			if len(shapes) < maxTables {
				shapes[sr.shape] = true
				segs[ls].End = i + 1
				last = sr.shape
				continue
			}
		}
		shapes = map[string]bool{}
		if sr.shape != "" {
			shapes[sr.shape] = true
		}
		last = sr.shape
		segs = append(segs, Segment{Kind: SegLookup, First: i, End: i + 1})
	}
	return segs
}
