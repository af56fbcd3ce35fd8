package iptables

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// tableHooks are the builtin chains (hooks) of each table iptables knows.
var tableHooks = map[string][]int{
	"filter":   {abi.HookLocalIn, abi.HookForward, abi.HookLocalOut},
	"nat":      {abi.HookPreRouting, abi.HookLocalIn, abi.HookLocalOut, abi.HookPostRouting},
	"mangle":   {abi.HookPreRouting, abi.HookLocalIn, abi.HookForward, abi.HookLocalOut, abi.HookPostRouting},
	"raw":      {abi.HookPreRouting, abi.HookLocalOut},
	"security": {abi.HookLocalIn, abi.HookForward, abi.HookLocalOut},
}

// NewTable returns the table as the kernel creates it: its builtin chains,
// empty, with ACCEPT policies.
func NewTable(fam abi.Family, name string) (*abi.Table, error) {
	hooks, ok := tableHooks[name]
	if !ok {
		return nil, &Error{Code: ExitVersion, Msg: "can't initialize " + famCmd(fam) + " table `" + name + "': Table does not exist (do you need to insmod?)\nPerhaps " + famCmd(fam) + " or your kernel needs to be upgraded."}
	}
	t := &abi.Table{Name: name, Family: fam}
	for _, h := range hooks {
		t.ValidHooks |= 1 << h
		t.Chains = append(t.Chains, &abi.Chain{Name: abi.HookChainNames[h], Hook: h, Policy: abi.VerdictAccept})
	}
	return t, nil
}

func famCmd(fam abi.Family) string {
	if fam == abi.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Tables is the set of tables of one family that commands work on.
// Tables not yet touched are created empty on first use, as the kernel
// does.
type Tables struct {
	Family abi.Family
	tables map[string]*abi.Table
	// Loader, when set, is asked for a table before creating an empty
	// one (for example to read it from the kernel).
	Loader func(name string) (*abi.Table, error)

	// read holds the masked blobs of tables read by a KernelTables loader.
	read map[string][]byte
	// countersChanged marks tables whose counters were set or zeroed.
	countersChanged map[string]bool
	// deferChecks skips the kernel-side checks after each command; a
	// restore checks each table once, at COMMIT, like the kernel.
	deferChecks bool
}

// NewTables returns an empty set of tables.
func NewTables(fam abi.Family) *Tables {
	return &Tables{Family: fam, tables: map[string]*abi.Table{}}
}

// Table returns the named table, creating it if needed.
func (ts *Tables) Table(name string) (*abi.Table, error) {
	if t, ok := ts.tables[name]; ok {
		return t, nil
	}
	var t *abi.Table
	var err error
	if ts.Loader != nil {
		t, err = ts.Loader(name)
	} else {
		t, err = NewTable(ts.Family, name)
	}
	if err != nil {
		return nil, err
	}
	ts.tables[name] = t
	return t, nil
}

// Set replaces (or adds) a table.
func (ts *Tables) Set(t *abi.Table) { ts.tables[t.Name] = t }

// Loaded returns the names of the tables touched so far.
func (ts *Tables) Loaded() []string {
	var out []string
	for _, name := range []string{"raw", "mangle", "filter", "nat", "security"} {
		if _, ok := ts.tables[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// cloneTable deep-copies a table, so that a failed batch leaves the
// original untouched.
func cloneTable(t *abi.Table) *abi.Table {
	n := *t
	n.Chains = make([]*abi.Chain, len(t.Chains))
	for i, c := range t.Chains {
		cc := *c
		cc.Rules = make([]*abi.Rule, len(c.Rules))
		for j, r := range c.Rules {
			rr := *r
			rr.Matches = append([]abi.Match(nil), r.Matches...)
			cc.Rules[j] = &rr
		}
		n.Chains[i] = &cc
	}
	return &n
}
