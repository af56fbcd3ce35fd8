package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// bfcliCase is one line of the upstream bfcli case file.
type bfcliCase struct {
	File       string   `json:"file"`
	Line       int      `json:"line"`
	Expect     string   `json:"expect"`
	Subcommand string   `json:"subcommand"`
	Options    string   `json:"options"`
	Text       string   `json:"text"`
	Vars       []string `json:"vars"`
}

func (c bfcliCase) id() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

// casesFile is the upstream case file, relative to the repository root.
const casesFile = "../shared/conformance/bfcli/bfcli-cases.head-f862b2a3.jsonl"

// repoRoot walks up from the working directory to the directory holding
// go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// loadCases reads every case; a missing file fails the test.
func loadCases(t testing.TB) []bfcliCase {
	t.Helper()
	path := filepath.Join(repoRoot(t), casesFile)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("bfcli conformance cases are required: %v", err)
	}
	defer f.Close()
	var cases []bfcliCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c bfcliCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: line %d: %v", path, len(cases)+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return cases
}

// testVars are the values substituted for the ${VAR}s of the cases.
var testVars = map[string]string{
	"NS_IFINDEX":     "1",
	"HOST_IFINDEX":   "1",
	"REDIR0_IFINDEX": "1000",
	"REDIR1_IFINDEX": "1001",
	"CGROUP_PATH":    "/sys/fs/cgroup/bpfilter-test",
	"HOST_IP_ADDR":   "198.18.0.1",
	"NS_IP_ADDR":     "198.18.0.2",
	"HOST_IP6_ADDR":  "2001:db8::1",
	"NS_IP6_ADDR":    "2001:db8::2",
}

// testIfaces are the test interfaces the cases name, besides the host's.
var testIfaces = map[string]uint32{"redir0": 1000, "redir1": 1001}

// testEnv resolves interface names through the host and testIfaces.
var testEnv = ir.ParseEnv{ResolveIface: func(name string) (uint32, error) {
	if idx, ok := testIfaces[name]; ok {
		return idx, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("resolving interface: %w", err)
	}
	return uint32(ifi.Index), nil
}}

var varRE = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// substitute replaces ${VAR} with testVars, failing on unknown variables.
func substitute(t testing.TB, c bfcliCase) string {
	t.Helper()
	return varRE.ReplaceAllStringFunc(c.Text, func(v string) string {
		name := varRE.FindStringSubmatch(v)[1]
		val, ok := testVars[name]
		if !ok {
			t.Fatalf("%s: unknown variable %s", c.id(), name)
		}
		return val
	})
}

// needsDaemon lists the cases whose outcome depends on the running daemon
// or the kernel, not on the text: they are not judged here.
var needsDaemon = map[string]string{
	"namespace/host_to_netns.sh:8": "ifindex names an interface of another network namespace; only attaching fails",
	"namespace/netns_to_host.sh:8": "ifindex names an interface of another network namespace; only attaching fails",
	"cli/chain_update.sh:11":       "chain update of a chain the daemon does not have",
}

// caseName returns the --name option of a case, if any.
func caseName(opts string) string {
	f := strings.Fields(opts)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--name" {
			return f[i+1]
		}
	}
	return ""
}

var errNoInput = errors.New("no input: --from-str or --from-file is required")

// runCase does what bfcli does with the case up to the point where it
// would talk to the daemon, and returns the parsed ruleset.
func runCase(t testing.TB, c bfcliCase) (*ir.Ruleset, error) {
	name := caseName(c.Options)
	if c.Subcommand == "chain attach" {
		if name == "" {
			return nil, errors.New("chain attach needs --name")
		}
		t.Fatalf("%s: chain attach with a name needs the daemon", c.id())
	}
	if c.Text == "" {
		return nil, errNoInput
	}
	rs, err := Parse(c.id(), []byte(substitute(t, c)), testEnv)
	if err != nil {
		return nil, err
	}
	switch c.Subcommand {
	case "ruleset set":
	case "chain set", "chain load", "chain update":
		if _, err := SelectChain(rs, name); err != nil {
			return nil, err
		}
	default:
		t.Fatalf("%s: unknown subcommand %q", c.id(), c.Subcommand)
	}
	return rs, nil
}

func TestConformanceBfcliCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 1000 {
		t.Fatalf("only %d cases read, want the whole file", len(cases))
	}
	var ok, refused, skipped, roundTrips int
	for _, c := range cases {
		if reason, skip := needsDaemon[c.id()]; skip {
			skipped++
			t.Logf("%s: not judged: %s", c.id(), reason)
			continue
		}
		rs, err := runCase(t, c)
		switch {
		case c.Expect == "ok" && err != nil:
			t.Errorf("%s: want accepted, got error:\n%v\ntext: %s", c.id(), err, c.Text)
		case c.Expect == "fail" && err == nil:
			t.Errorf("%s: want refused, got accepted\ntext: %s", c.id(), c.Text)
		case c.Expect == "ok":
			ok++
			if checkRoundTrip(t, c.id(), rs) {
				roundTrips++
			}
		case c.Expect == "fail":
			refused++
		default:
			t.Fatalf("%s: unknown expectation %q", c.id(), c.Expect)
		}
	}
	t.Logf("bfcli cases: %d total, %d accepted as expected (%d round-tripped), %d refused as expected, %d need the daemon",
		len(cases), ok, roundTrips, refused, skipped)
	if len(needsDaemon) > 5 {
		t.Errorf("needsDaemon has %d entries; keep it small", len(needsDaemon))
	}
}

// TestConformanceErrorsArePositioned checks that refused cases report
// file:line:col positions, not bare messages.
func TestConformanceErrorsArePositioned(t *testing.T) {
	for _, c := range loadCases(t) {
		if c.Expect != "fail" || c.Text == "" || needsDaemon[c.id()] != "" {
			continue
		}
		_, err := Parse(c.id(), []byte(substitute(t, c)), testEnv)
		if err == nil {
			continue // refused at command level, checked above
		}
		var l ErrorList
		if !errors.As(err, &l) || len(l) == 0 {
			t.Errorf("%s: error is not an ErrorList: %v", c.id(), err)
			continue
		}
		for _, e := range l {
			if e.Pos.Line == 0 || !strings.HasPrefix(e.Error(), c.id()+":") {
				t.Errorf("%s: error without position: %q", c.id(), e.Error())
			}
		}
	}
}
