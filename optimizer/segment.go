package optimizer

// segmentRules splits the rules into linear segments (srs[i] == nil) and
// lookup segments of at most maxTables shapes (match-all rules, whose shape
// is empty, cost no lookup and are not counted).
func segmentRules(srs []*shapeRule, maxTables int) []Segment {
	var segs []Segment
	var shapes map[string]bool
	for i, sr := range srs {
		last := len(segs) - 1
		if sr == nil {
			if last >= 0 && segs[last].Kind == SegLinear {
				segs[last].End = i + 1
				continue
			}
			segs = append(segs, Segment{Kind: SegLinear, First: i, End: i + 1})
			continue
		}
		if last >= 0 && segs[last].Kind == SegLookup {
			if sr.shape == "" || shapes[sr.shape] || len(shapes) < maxTables {
				if sr.shape != "" {
					shapes[sr.shape] = true
				}
				segs[last].End = i + 1
				continue
			}
		}
		shapes = map[string]bool{}
		if sr.shape != "" {
			shapes[sr.shape] = true
		}
		segs = append(segs, Segment{Kind: SegLookup, First: i, End: i + 1})
	}
	return segs
}
