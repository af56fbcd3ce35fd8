package cli

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/cli")

// goldenDir is where the printer's golden files live.
func goldenDir(t *testing.T) string { return filepath.Join(repoRoot(t), "testdata", "cli") }

// checkGolden compares got with the named golden file, or rewrites it
// with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir(t), name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output; got:\n%s", path, got)
	}
}

// parseFile parses a file under testdata/cli.
func parseFile(t *testing.T, name string) *ir.Ruleset {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(goldenDir(t), name))
	if err != nil {
		t.Fatalf("reading input: %v", err)
	}
	rs, err := Parse(name, src, testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rs
}

func TestFormatGolden(t *testing.T) {
	rs := parseFile(t, "ruleset.bf")
	out := Format(rs)
	checkGolden(t, "ruleset.golden", out)
	// Canonical text is a fixed point of Parse+Format.
	back, err := Parse("ruleset.golden", []byte(out), testEnv)
	if err != nil {
		t.Fatalf("golden text does not parse: %v", err)
	}
	if again := Format(back); again != out {
		t.Errorf("Format is not idempotent:\n%s", again)
	}
	checkRoundTrip(t, "ruleset.bf", rs)
}

// testCounters gives every rule i of every chain i+1 packets of 100 bytes.
func testCounters(chain string) *ChainCounters {
	if chain == "loaded" {
		return nil
	}
	cc := &ChainCounters{Policy: Counter{Packets: 87, Bytes: 9085}, Errors: Counter{Packets: 1, Bytes: 60}}
	for i := 0; i < 16; i++ {
		cc.Rules = append(cc.Rules, Counter{Packets: uint64(i + 1), Bytes: uint64(100 * (i + 1))})
	}
	return cc
}

func TestListGolden(t *testing.T) {
	rs := parseFile(t, "ruleset.bf")
	checkGolden(t, "list.golden", List(rs, ListOptions{Counters: testCounters}))
	checkGolden(t, "list_no_set_content.golden", List(rs, ListOptions{Counters: testCounters, NoSetContent: true}))
	if got, want := List(rs, ListOptions{}), Format(rs); got != want {
		t.Errorf("List without options differs from Format:\n%s", got)
	}
}

func TestErrorsGolden(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(goldenDir(t), "errors.bf"))
	if err != nil {
		t.Fatalf("reading input: %v", err)
	}
	_, err = Parse("errors.bf", src, testEnv)
	if err == nil {
		t.Fatalf("errors.bf parsed without errors")
	}
	checkGolden(t, "errors.golden", err.Error()+"\n")
}
