package bfcli

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	dir := t.TempDir() // no daemon listens here
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"ruleset", "set"}, 2, "--from-file or --from-str"},
		{[]string{"ruleset", "set", "-f", "x", "-s", "chain a BF_HOOK_XDP ACCEPT"}, 2, "mutually exclusive"},
		{[]string{"chain", "get"}, 2, "--name is required"},
		{[]string{"ruleset", "get", "--name", "x"}, 2, "does not apply"},
		{[]string{"chain", "attach", "--name", "x"}, 2, "--option"},
		{[]string{"chain", "update-set", "--name", "x", "--set-name", "s"}, 2, "--add or --remove"},
		{[]string{"chain", "explode"}, 2, "unknown command"},
		{[]string{"ruleset"}, 2, "OBJECT ACTION"},
		{[]string{"--with-bpf-token", "ruleset", "get"}, 2, "option of the daemon"},
		{[]string{"ruleset", "set", "-s", "chain a BF_HOOK_XDP ACCEPT\nrule ip4.sadr 1.2.3.4 DROP"}, 1, "<string>:2:6: unknown matcher"},
		{[]string{"chain", "set", "-s", "chain a BF_HOOK_XDP ACCEPT chain b BF_HOOK_XDP ACCEPT"}, 1, "chain"},
		{[]string{"chain", "set", "--name", "nope", "-s", "chain a BF_HOOK_XDP ACCEPT chain b BF_HOOK_XDP ACCEPT"}, 1, "nope"},
		{[]string{"chain", "attach", "--name", "x", "--option", "color=red"}, 1, "unknown hook option"},
		{[]string{"ruleset", "get"}, 1, "is it running"},
		{[]string{"ruleset", "set", "-s", "chain a BF_HOOK_XDP ACCEPT"}, 1, "is it running"},
		{[]string{"ruleset", "set", "-f", dir + "/missing.bf"}, 1, "missing.bf"},
		// rule commands (rules.go)
		{[]string{"rule", "insert", "--index", "0", "-s", "rule udp.dport 1 DROP"}, 2, "--chain is required"},
		{[]string{"rule", "insert", "--chain", "a", "-s", "rule udp.dport 1 DROP"}, 2, "--index is required"},
		{[]string{"rule", "insert", "--chain", "a", "--index", "0"}, 2, "--from-file or --from-str"},
		{[]string{"rule", "insert", "--chain", "a", "--index", "-1", "-s", "rule udp.dport 1 DROP"}, 2, "--index must be"},
		{[]string{"rule", "insert", "--chain", "a", "--index", "0", "--count", "2", "-s", "x"}, 2, "does not apply"},
		{[]string{"rule", "delete", "--chain", "a", "--index", "0", "-s", "x"}, 2, "does not apply"},
		{[]string{"rule", "delete", "--chain", "a", "--index", "0", "--count", "0"}, 2, "--count must be"},
		{[]string{"rule", "delete", "--chain", "a", "--name", "a", "--index", "0"}, 2, "same option"},
		{[]string{"rule", "replace", "--chain", "a", "--index", "0", "--expect-rules", "-2", "-s", "x"}, 2, "--expect-rules"},
		{[]string{"rule", "delete", "--chain", "a", "--index", "0"}, 1, "is it running"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--runtime-dir", dir}, c.args...), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("bfcli %q: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
	var out bytes.Buffer
	if code := Main([]string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "chain update-set") || !strings.Contains(out.String(), "rule insert") {
		t.Fatalf("--help: %d %s", code, out.String())
	}
}
