package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// ContextVersion is the version of the serialised context format
// (docs/PROTOCOL.md, "Context file"). Version 2 adds the epoch of the
// journal continuing the snapshot (journal.go); version 1 files (no
// journal) are still read.
const ContextVersion = 2

// ContextFileName is the serialised context's name in the runtime dir.
const ContextFileName = "context.json"

// savedContext is the serialised runtime context.
type savedContext struct {
	Version int    `json:"version"`
	NextGen uint64 `json:"next_gen"`
	// Epoch names the journal continuing this snapshot (version 2).
	Epoch  uint64   `json:"epoch,omitempty"`
	Chains []*entry `json:"chains"`
	// Pending is an update that was started and not committed: on restore
	// it is applied again (so the new version is in force), or, when that
	// fails, the committed chains are forced back.
	Pending *pendingPlan `json:"pending,omitempty"`
	// Iptables are the iptables front's tables (see ipt_store.go).
	Iptables iptTables `json:"iptables,omitempty"`

	// dropped is the size of a torn journal tail dropped on reading;
	// epochFloor the highest epoch found on disk (snapshot or journal).
	dropped    int
	epochFloor uint64
}

// pendingPlan is the serialised form of a plan.
type pendingPlan struct {
	Front  string   `json:"front"`
	Add    []*entry `json:"add"`
	Remove []string `json:"remove,omitempty"`
	// Iptables, when set, are the iptables tables the update installs.
	Iptables iptTables `json:"iptables,omitempty"`

	// carries are, per chain of a plan replayed from the journal, the
	// carry map of its patch (nil: recorded whole), for the slots of its
	// commit record (journal_replay.go).
	carries [][]int
}

// encodeContext serialises the context with an optional pending plan.
func (s *State) encodeContext(pending *plan, epoch uint64) ([]byte, error) {
	sc := savedContext{Version: ContextVersion, NextGen: s.nextGen, Epoch: epoch, Chains: []*entry{}, Iptables: s.ipt}
	for _, n := range s.sortedNames() {
		sc.Chains = append(sc.Chains, s.chains[n])
	}
	if pending != nil {
		sc.Pending = &pendingPlan{Front: pending.front, Add: pending.add, Remove: pending.remove, Iptables: pending.ipt}
	}
	b, err := json.MarshalIndent(sc, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encoding the runtime context: %w", err)
	}
	return append(b, '\n'), nil
}

// save writes the whole context (standard mode only) as a new snapshot
// (persist_journal.go), atomically: a temporary file is written and
// synced, then renamed over the old one, and the directory synced, so a
// crash leaves the old or the new file.
func (s *State) save(pending *plan) error { return s.snapshot(pending) }

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// decodeContext parses and checks a serialised context.
func decodeContext(b []byte) (*savedContext, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sc savedContext
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("malformed context: %w", err)
	}
	if sc.Version != ContextVersion && sc.Version != 1 {
		return nil, fmt.Errorf("context format version %d is not supported (want 1 or %d)", sc.Version, ContextVersion)
	}
	if sc.Version == 1 && sc.Epoch != 0 {
		return nil, errors.New("a version 1 context has no epoch")
	}
	if err := checkContext(&sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// checkContext checks the chains, generations and tables of a context.
func checkContext(sc *savedContext) error {
	seen := map[string]bool{}
	check := func(what string, es []*entry) error {
		for i, e := range es {
			if e == nil || e.Chain == nil {
				return fmt.Errorf("%s %d has no chain", what, i)
			}
			if err := checkEntry(e); err != nil {
				return fmt.Errorf("%s %q: %w", what, e.Chain.Name, err)
			}
			if e.Gen == 0 || e.Gen >= sc.NextGen {
				return fmt.Errorf("%s %q: generation %d out of range (next is %d)", what, e.Chain.Name, e.Gen, sc.NextGen)
			}
		}
		return nil
	}
	if err := check("chain", sc.Chains); err != nil {
		return err
	}
	for _, e := range sc.Chains {
		if seen[e.Chain.Name] {
			return fmt.Errorf("chain %q appears twice", e.Chain.Name)
		}
		seen[e.Chain.Name] = true
	}
	if sc.Pending != nil {
		if err := check("pending chain", sc.Pending.Add); err != nil {
			return err
		}
		if err := sc.Pending.Iptables.load(); err != nil {
			return fmt.Errorf("pending %w", err)
		}
	}
	if err := sc.Iptables.load(); err != nil {
		return err
	}
	return nil
}

func checkEntry(e *entry) error {
	for i, s := range e.Chain.Sets {
		if s == nil {
			return fmt.Errorf("set %d is null", i)
		}
	}
	for i, r := range e.Chain.Rules {
		if r == nil {
			return fmt.Errorf("rule %d is null", i)
		}
	}
	if err := e.Chain.Validate(); err != nil {
		return err
	}
	for i, u := range e.Users {
		if u == nil || !u.User {
			return fmt.Errorf("user chain %d is null or not a user chain", i)
		}
		if err := u.Validate(); err != nil {
			return err
		}
	}
	switch e.Front {
	case "cli", "iptables", "nftables":
	default:
		return fmt.Errorf("unknown front %q", e.Front)
	}
	if e.Attached && !e.Chain.HookOpts.Attachable(e.Chain.Hook) {
		return errors.New("marked attached without hook options")
	}
	if e.Pin != "" && !pinNameRE.MatchString(e.Pin) {
		return fmt.Errorf("invalid pin directory name %q", e.Pin)
	}
	if e.Slots != nil && len(e.Slots.Rules) != len(e.Chain.Rules) {
		return fmt.Errorf("%d counter slots for %d rules", len(e.Slots.Rules), len(e.Chain.Rules))
	}
	if n := len(e.Offsets.Rules); n != 0 && n != len(e.Chain.Rules) {
		return fmt.Errorf("%d counter offsets for %d rules", n, len(e.Chain.Rules))
	}
	return nil
}

// pinNameRE matches the pin directory names pinName makes.
var pinNameRE = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,128}@[0-9]{1,20}$`)
