// Package optimizer is the planning stage of bpfilter's rule optimiser: a
// pure, deterministic pass that turns an ir.Chain into a Plan whose
// per-packet cost does not grow with the rule count for the common rule
// shapes, while keeping first-match semantics exactly.
//
// A Plan is a list of segments. A linear segment is a run of rules the
// backend compiles one compare after the other (rules with logs, CONTINUE,
// negations, flag matches, probabilities, JUMP/GOTO/RETURN). A lookup
// segment is a maximal run of classifiable rules grouped by shape: every
// shape is one table (hash map, LPM trie, or a constant for match-all
// rules) whose entries map key bytes to the rule's priority and stable ID.
// Per packet, a lookup segment costs one lookup per table (plus one array
// lookup per range field); the smallest priority found decides, as the
// first matching rule of the run would (tuple-space search).
//
// (*Plan).Eval evaluates the plan itself in Go and must agree with ir.Eval
// on every packet; the tests check this on random rulesets and packets.
// Diff compares two plans and says which map entries to write when the
// program structure is unchanged. docs/OPTIMISER.md has the design and its
// bounds.
package optimizer
