package cli

import "strings"

// suggest returns the candidate closest to word (case-insensitively), or
// "" when none is close enough to be a plausible typo.
func suggest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(w, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(w) <= 4 {
		limit = 1
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// didYouMean formats a suggestion suffix for an error message.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" && s != word {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, computed on
// bytes. Inputs longer than 64 bytes are not compared (distance 1000), so
// hostile input cannot make suggestions quadratic in its size.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1000
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
