package proto

import (
	"strings"
	"testing"
)

// TestDecodeRuleEdits: chain.update-rules edits are checked for shape.
func TestDecodeRuleEdits(t *testing.T) {
	ok := `{"version":1,"front":"cli","cmd":"chain.update-rules","name":"a","expect_rules":3,"edits":[
		{"op":"insert","index":0,"text":"rule udp.dport 1 DROP"},
		{"op":"replace","index":1,"rules":[{"Verdict":{"Kind":1}}]},
		{"op":"delete","index":2,"count":2}]}`
	r, err := DecodeRequest([]byte(ok))
	if err != nil || len(r.Edits) != 3 || r.ExpectRules == nil || *r.ExpectRules != 3 {
		t.Fatalf("%v %+v", err, r)
	}
	for edit, msg := range map[string]string{
		`{"op":"move","index":0}`:                           "unknown op",
		`{"op":"insert","index":0}`:                         "needs rules or text",
		`{"op":"insert","index":-1,"text":"rule x"}`:        "negative index",
		`{"op":"insert","index":0,"text":"r","rules":[{}]}`: "not both",
		`{"op":"insert","index":0,"count":2,"text":"r"}`:    "count applies to delete only",
		`{"op":"delete","index":0,"text":"r"}`:              "takes no rules",
		`{"op":"delete","index":0,"count":-1}`:              "negative count",
		`{"op":"replace","index":0,"rules":[null]}`:         "null",
		`{"op":"insert","index":0,"surprise":1}`:            "unknown field",
	} {
		_, err := DecodeRequest([]byte(`{"version":1,"front":"cli","cmd":"chain.update-rules","name":"a","edits":[` + edit + `]}`))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", edit, err, msg)
		}
	}
}
