package cli

import (
	"fmt"
	"strings"
	"testing"
)

func TestLex(t *testing.T) {
	src := "chain c BF_HOOK_XDP{ifindex=2} ACCEPT # comment, {ignored}\n  rule (a,b) in {1;2} tcp.flags syn,ack"
	var got []string
	for _, tok := range lex("f.bf", []byte(src)) {
		sp := ""
		if tok.spaceBefore {
			sp = "_"
		}
		got = append(got, fmt.Sprintf("%s%d:%d:%q", sp, tok.pos.Line, tok.pos.Column, tok.text))
	}
	want := `_1:1:"chain" _1:7:"c" _1:9:"BF_HOOK_XDP" 1:20:"{" 1:21:"ifindex=2" 1:30:"}" _1:32:"ACCEPT" _1:59:"\n" ` +
		`_2:3:"rule" _2:8:"(" 2:9:"a" 2:10:"," 2:11:"b" 2:12:")" _2:14:"in" _2:17:"{" 2:18:"1" 2:19:";" 2:20:"2" 2:21:"}" ` +
		`_2:23:"tcp.flags" _2:33:"syn" 2:36:"," 2:37:"ack" _2:40:""`
	if g := strings.Join(got, " "); g != want {
		t.Errorf("tokens:\n got %s\nwant %s", g, want)
	}
}

func TestParseEvery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // time.Duration string, or "error"
	}{
		{"1s", "1s"}, {"500ms", "500ms"}, {"1.5s", "1.5s"}, {"0.5ms", "500µs"}, {"3ns", "3ns"},
		{"0s", "error"}, {"0.1ns", "error"}, {"1year", "error"}, {"-1s", "error"}, {"1", "error"},
		{"s", "error"}, {"1.s", "error"}, {"99999999999s", "error"},
	} {
		d, err := parseEvery(tc.in)
		got := d.String()
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("parseEvery(%q) = %s (%v), want %s", tc.in, got, err, tc.want)
		}
		if err == nil {
			if back, err := parseEvery(formatEvery(d)); err != nil || back != d {
				t.Errorf("formatEvery(%v) = %q does not parse back", d, formatEvery(d))
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ word, want string }{
		{"ip4.sadr", "ip4.saddr"}, {"tcp.dprot", "tcp.dport"}, {"accept", "ACCEPT"}, {"zzzzzz", ""}, {"ip", ""},
	} {
		if got := suggest(tc.word, append(fieldNames(), ruleWords...)); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
