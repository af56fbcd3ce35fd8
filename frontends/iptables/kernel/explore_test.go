package kernel

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func TestExplore(t *testing.T) {
	lines := os.Getenv("EXPLORE")
	if lines == "" {
		t.Skip("EXPLORE not set")
	}
	fam := abi.IPv4
	cmd := "iptables-legacy"
	if os.Getenv("EXPLORE6") != "" {
		fam, cmd = abi.IPv6, "ip6tables-legacy"
	}
	ns := testenv.NewNetns(t)
	for _, l := range strings.Split(lines, "\n") {
		if l == "" {
			continue
		}
		out, err := ns.Run(append([]string{cmd, "-A", "INPUT"}, strings.Fields(l)...)...)
		if err != nil {
			t.Logf("%s: %v %s", l, err, out)
		}
	}
	c := openIn(t, ns, fam)
	tab, _, _, err := c.ReadTable("filter")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Chains[0].Rules {
		t.Logf("rule ip=%+v", r.IP)
		for _, m := range r.Matches {
			t.Logf("  m %s rev %d len %d\n%s", m.Name, m.Revision, len(m.Data), hex.Dump(m.Data))
		}
		t.Logf("  t kind %d %s rev %d len %d\n%s", r.Target.Kind, r.Target.Name, r.Target.Revision, len(r.Target.Data), hex.Dump(r.Target.Data))
	}
}
