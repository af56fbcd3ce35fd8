package cli

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

func TestSelectChain(t *testing.T) {
	inputs := map[string]*ir.Ruleset{
		"one":  mustParse(t, "chain only BF_HOOK_XDP ACCEPT"),
		"two":  mustParse(t, "chain a BF_HOOK_XDP ACCEPT chain b BF_HOOK_TC_INGRESS DROP"),
		"none": mustParse(t, "# nothing"),
	}
	for _, tc := range []struct {
		name    string
		input   string
		pick    string
		want    string
		wantErr string
	}{
		{"one chain, no name", "one", "", "only", ""},
		{"one chain, its name", "one", "only", "only", ""},
		{"one chain, other name", "one", "other", "", `chain "other" is not defined in the input`},
		{"two chains, no name", "two", "", "", "the input defines 2 chains (a, b): use --name to pick one"},
		{"two chains, first", "two", "a", "a", ""},
		{"two chains, second", "two", "b", "b", ""},
		{"two chains, missing", "two", "c", "", `chain "c" is not defined in the input`},
		{"no chain", "none", "", "", "no chain defined in the input"},
		{"no chain, name", "none", "a", "", "no chain defined in the input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := SelectChain(inputs[tc.input], tc.pick)
			switch {
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("SelectChain = %v, %v; want error %q", c, err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("SelectChain: %v", err)
			case c.Name != tc.want:
				t.Fatalf("SelectChain picked %q, want %q", c.Name, tc.want)
			}
		})
	}
	if _, err := SelectChain(nil, ""); err == nil {
		t.Errorf("SelectChain(nil) succeeded")
	}
}
