package proto

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
)

// CmdChainUpdateRules edits single rules of an existing chain: the request
// carries only the change (Edits), not the whole chain. See
// docs/PROTOCOL.md, "chain.update-rules".
const CmdChainUpdateRules = "chain.update-rules"

// Rule edit operations (RuleEdit.Op).
const (
	// EditInsert inserts Rules (or the rules of Text) before rule Index;
	// Index may be the rule count (append).
	EditInsert = "insert"
	// EditDelete deletes Count rules (1 when 0) from rule Index on.
	EditDelete = "delete"
	// EditReplace replaces the rules from Index on by Rules (or the rules
	// of Text), one for one.
	EditReplace = "replace"
)

// RuleEdit is one edit of chain.update-rules. Edits apply in order; each
// Index is a rule index in the chain as the edits before it left it.
type RuleEdit struct {
	Op    string `json:"op"`
	Index int    `json:"index"`
	// Count is the number of rules a delete removes (0 means 1).
	Count int `json:"count,omitempty"`
	// Rules are the rules to insert or to replace with, in IR.
	Rules []*ir.Rule `json:"rules,omitempty"`
	// Text is bfcli source of one or more `rule ...` statements, an
	// alternative to Rules (front cli only): the daemon parses it against
	// the chain's hook and named sets, in the client's network namespace.
	Text string `json:"text,omitempty"`
}

func init() { commands[CmdChainUpdateRules] = true }

// checkEdits refuses malformed edits (shape only: indexes are checked
// against the chain by the daemon).
func checkEdits(es []RuleEdit) error {
	for i, e := range es {
		switch e.Op {
		case EditInsert, EditReplace:
			if len(e.Rules) == 0 && e.Text == "" {
				return fmt.Errorf("edit %d (%s): needs rules or text", i, e.Op)
			}
			if len(e.Rules) > 0 && e.Text != "" {
				return fmt.Errorf("edit %d (%s): give rules or text, not both", i, e.Op)
			}
			if e.Count != 0 {
				return fmt.Errorf("edit %d (%s): count applies to delete only", i, e.Op)
			}
		case EditDelete:
			if len(e.Rules) > 0 || e.Text != "" {
				return fmt.Errorf("edit %d (delete): takes no rules or text", i)
			}
			if e.Count < 0 {
				return fmt.Errorf("edit %d (delete): negative count %d", i, e.Count)
			}
		default:
			return fmt.Errorf("edit %d: unknown op %q (want insert, delete or replace)", i, e.Op)
		}
		if e.Index < 0 {
			return fmt.Errorf("edit %d (%s): negative index %d", i, e.Op, e.Index)
		}
		for j, r := range e.Rules {
			if r == nil {
				return fmt.Errorf("edit %d (%s): rule %d is null", i, e.Op, j)
			}
		}
	}
	return nil
}
