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
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--runtime-dir", dir}, c.args...), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("bfcli %q: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
	var out bytes.Buffer
	if code := Main([]string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "chain update-set") {
		t.Fatalf("--help: %d %s", code, out.String())
	}
}
