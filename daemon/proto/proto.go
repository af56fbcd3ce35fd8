// Package proto is the bpfilter daemon's socket protocol: length-prefixed
// JSON frames carrying versioned requests and responses. docs/PROTOCOL.md
// describes it for clients written in other languages.
package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Version is the protocol version this package speaks.
const Version = 1

// Frontends that can send requests.
const (
	FrontCLI      = "cli"
	FrontIptables = "iptables"
	FrontNftables = "nftables"
)

// Commands.
const (
	CmdRulesetSet    = "ruleset.set"
	CmdRulesetGet    = "ruleset.get"
	CmdRulesetFlush  = "ruleset.flush"
	CmdChainSet      = "chain.set"
	CmdChainGet      = "chain.get"
	CmdChainLoad     = "chain.load"
	CmdChainAttach   = "chain.attach"
	CmdChainUpdate   = "chain.update"
	CmdChainUpdSet   = "chain.update-set"
	CmdChainFlush    = "chain.flush"
	CmdChainLogs     = "chain.logs"
	CmdContextDump   = "context.dump"
	CmdDaemonVersion = "daemon.version"
	// iptables requests (front iptables): Blob carries the kernel's own
	// socket-option buffers (see docs/PROTOCOL.md, "iptables requests").
	CmdIptReplace        = "ipt.replace"
	CmdIptGetInfo        = "ipt.get_info"
	CmdIptGetEntries     = "ipt.get_entries"
	CmdIptAddCounters    = "ipt.add_counters"
	CmdIptRevisionMatch  = "ipt.get_revision_match"
	CmdIptRevisionTarget = "ipt.get_revision_target"
)

var commands = map[string]bool{
	CmdRulesetSet: true, CmdRulesetGet: true, CmdRulesetFlush: true,
	CmdChainSet: true, CmdChainGet: true, CmdChainLoad: true, CmdChainAttach: true,
	CmdChainUpdate: true, CmdChainUpdSet: true, CmdChainFlush: true, CmdChainLogs: true,
	CmdContextDump: true, CmdDaemonVersion: true,
	CmdIptReplace: true, CmdIptGetInfo: true, CmdIptGetEntries: true, CmdIptAddCounters: true,
	CmdIptRevisionMatch: true, CmdIptRevisionTarget: true,
}

// Commands returns every command name, for documentation and tests.
func Commands() []string {
	out := make([]string, 0, len(commands))
	for c := range commands {
		out = append(out, c)
	}
	return out
}

// Request is one client request. Which fields matter depends on Cmd; see
// docs/PROTOCOL.md.
type Request struct {
	Version int    `json:"version"`
	ID      uint64 `json:"id"`
	Front   string `json:"front"`
	Cmd     string `json:"cmd"`
	// Ruleset is the IR of ruleset.set, and of chain.set/load/update when
	// Chain is not given (Name then selects the chain).
	Ruleset *ir.Ruleset `json:"ruleset,omitempty"`
	// Chain is the IR of chain.set, chain.load and chain.update.
	Chain *ir.Chain `json:"chain,omitempty"`
	// Text is bfcli source, an alternative to Ruleset/Chain: the daemon
	// parses it in the client's network namespace.
	Text string `json:"text,omitempty"`
	// Name selects a chain (get, attach, update-set, flush, logs, and the
	// chain to take from a multi-chain Ruleset or Text).
	Name string `json:"name,omitempty"`
	// HookOpts are chain.attach's options.
	HookOpts *ir.HookOpts `json:"hook_opts,omitempty"`
	// DryRun validates (and for the cli front, parses) without applying.
	DryRun bool `json:"dry_run,omitempty"`
	// SetName, Add and Remove are chain.update-set's arguments: elements
	// in bfcli element syntax ("10.0.0.1, 80").
	SetName string   `json:"set_name,omitempty"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
	// NoSetContent asks get commands to leave set elements out.
	NoSetContent bool `json:"no_set_content,omitempty"`
	// Family is 4 (iptables) or 6 (ip6tables) for ipt.* requests.
	Family int `json:"family,omitempty"`
	// Blob is the ipt.* request's socket-option buffer, exactly as the
	// kernel takes it (ipt_replace, ipt_getinfo, ipt_get_entries,
	// xt_counters_info, xt_get_revision); base64 in JSON.
	Blob []byte `json:"blob,omitempty"`
	// Edits and ExpectRules are chain.update-rules' arguments (rules.go):
	// the edits, and when set, the rule count the client expects the
	// chain to have (a different count is EAGAIN: the chain changed).
	Edits       []RuleEdit `json:"edits,omitempty"`
	ExpectRules *int       `json:"expect_rules,omitempty"`
}

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Add returns c + o.
func (c Counter) Add(o Counter) Counter {
	return Counter{Packets: c.Packets + o.Packets, Bytes: c.Bytes + o.Bytes}
}

// Counters are a chain's counters: one per rule, the policy and the parse
// errors.
type Counters struct {
	Rules  []Counter `json:"rules"`
	Policy Counter   `json:"policy"`
	Errors Counter   `json:"errors"`
	// User holds, for chains running user chains (iptables), the counters
	// of each user chain's rules as reached from this chain.
	User map[string][]Counter `json:"user,omitempty"`
}

// ChainState is a chain as the daemon holds it.
type ChainState struct {
	Chain *ir.Chain `json:"chain"`
	// Front is the frontend that owns the chain.
	Front string `json:"front"`
	// Attached reports whether the chain is attached to its hook.
	Attached bool `json:"attached"`
	// SetSizes gives the element count of each set (by set name), so
	// listings can show it when NoSetContent removed the elements.
	SetSizes map[string]int `json:"set_sizes,omitempty"`
	// Counters are absent in dry-run answers.
	Counters *Counters `json:"counters,omitempty"`
}

// LogEntry is one log record streamed by chain.logs.
type LogEntry struct {
	// Text is the record printed as bfcli prints it.
	Text string `json:"text"`
	// Data is the decoded record as JSON (backend.LogEntry).
	Data json.RawMessage `json:"data,omitempty"`
}

// Response answers a request. A chain.logs request is answered by a stream
// of responses with Log set, ended by one with Done set (or an error).
type Response struct {
	ID uint64 `json:"id"`
	OK bool   `json:"ok"`
	// Error says what failed when OK is false.
	Error string `json:"error,omitempty"`
	// Errno is a short machine-readable error class: EEXIST, ENOENT,
	// EINVAL, EPERM, EOPNOTSUPP, EPROTO, EIO.
	Errno  string       `json:"errno,omitempty"`
	Chains []ChainState `json:"chains,omitempty"`
	Log    *LogEntry    `json:"log,omitempty"`
	Done   bool         `json:"done,omitempty"`
	// Dump is context.dump's text, and daemon.version's version string.
	Dump string `json:"dump,omitempty"`
	// Blob is an ipt.* answer in the kernel's format: the filled
	// ipt_getinfo or ipt_get_entries buffer, or the old counters of
	// ipt.replace (one xt_counters per entry of the replaced table).
	Blob []byte `json:"blob,omitempty"`
	// Revision is the best revision of ipt.get_revision_* answers.
	Revision int `json:"revision,omitempty"`
}

// Error classes used in Response.Errno.
const (
	EEXIST     = "EEXIST"
	ENOENT     = "ENOENT"
	EINVAL     = "EINVAL"
	EPERM      = "EPERM"
	EOPNOTSUPP = "EOPNOTSUPP"
	EPROTO     = "EPROTO"
	EIO        = "EIO"
	// EAGAIN: an ipt.replace raced with another change of the table
	// (its num_counters is not the table's entry count); read and retry.
	EAGAIN = "EAGAIN"
)

// DecodeRequest parses and checks a request body. It never panics; an error
// names what is wrong.
func DecodeRequest(body []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding request: trailing data after the JSON object")
	}
	if r.Version != Version {
		return &r, fmt.Errorf("unsupported protocol version %d (this daemon speaks %d)", r.Version, Version)
	}
	switch r.Front {
	case FrontCLI, FrontIptables, FrontNftables:
	default:
		return &r, fmt.Errorf("unknown front %q (want cli, iptables or nftables)", r.Front)
	}
	if !commands[r.Cmd] {
		return &r, fmt.Errorf("unknown command %q", r.Cmd)
	}
	if r.Ruleset != nil {
		for i, c := range r.Ruleset.Chains {
			if c == nil {
				return &r, fmt.Errorf("ruleset chain %d is null", i)
			}
		}
	}
	for _, c := range r.chains() {
		if err := checkChainShape(c); err != nil {
			return &r, err
		}
	}
	// chain.update-rules edits (rules.go).
	if err := checkEdits(r.Edits); err != nil {
		return &r, err
	}
	return &r, nil
}

func (r *Request) chains() []*ir.Chain {
	var out []*ir.Chain
	if r.Chain != nil {
		out = append(out, r.Chain)
	}
	if r.Ruleset != nil {
		out = append(out, r.Ruleset.Chains...)
	}
	return out
}

// checkChainShape refuses null pointers inside a decoded chain, so later
// code can walk it without checks.
func checkChainShape(c *ir.Chain) error {
	for i, s := range c.Sets {
		if s == nil {
			return fmt.Errorf("chain %q: set %d is null", c.Name, i)
		}
	}
	for i, r := range c.Rules {
		if r == nil {
			return fmt.Errorf("chain %q: rule %d is null", c.Name, i)
		}
	}
	return nil
}

// Encode marshals a request or response body.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding message: %w", err)
	}
	return b, nil
}
