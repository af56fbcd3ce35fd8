package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/ir"
)

// gate refuses requests of a disabled front.
func (s *Server) gate(req *proto.Request) error {
	if flag, off := s.disabled[req.Front]; off {
		return errorf(proto.EOPNOTSUPP, "%s support is disabled (the daemon runs with %s)", req.Front, flag)
	}
	return nil
}

// handle runs one request from the process pid and builds its answer.
func (s *Server) handle(req *proto.Request, pid int) *proto.Response {
	resp, err := s.dispatch(req, pid)
	if err != nil {
		s.log.Debug("request failed", "pid", pid, "front", req.Front, "cmd", req.Cmd, "name", req.Name, "err", err)
		return failure(req.ID, err)
	}
	s.log.Debug("request done", "pid", pid, "front", req.Front, "cmd", req.Cmd, "name", req.Name, "dry_run", req.DryRun)
	resp.ID, resp.OK = req.ID, true
	return resp
}

// needsPeer lists the commands that resolve names in the client's
// namespaces.
var needsPeer = map[string]bool{
	proto.CmdRulesetSet: true, proto.CmdChainSet: true, proto.CmdChainLoad: true,
	proto.CmdChainAttach: true, proto.CmdChainUpdate: true, proto.CmdChainUpdSet: true,
	proto.CmdIptReplace: true,
	// Per-rule updates (rules.go).
	proto.CmdChainUpdateRules: true,
}

func (s *Server) dispatch(req *proto.Request, pid int) (*proto.Response, error) {
	if req.Cmd == proto.CmdDaemonVersion {
		// Front-independent: answered whatever front is disabled.
		return &proto.Response{Dump: s.version}, nil
	}
	if err := s.gate(req); err != nil {
		return nil, err
	}
	var peer Peer
	if needsPeer[req.Cmd] {
		p, done, err := s.peer(pid)
		if err != nil {
			return nil, errorf(proto.EIO, "client process %d: %w", pid, err)
		}
		defer done()
		peer = p
	}
	st := s.state
	f := req.Front
	if isIptCmd(req.Cmd) {
		return s.dispatchIpt(req, peer)
	}
	if err := refuseIptBypass(req); err != nil {
		return nil, err
	}
	switch req.Cmd {
	case proto.CmdRulesetSet:
		rs, err := requestRuleset(req, peer)
		if err != nil {
			return nil, err
		}
		return &proto.Response{}, st.RulesetSet(f, rs, peer, req.DryRun)
	case proto.CmdRulesetGet:
		cs, err := st.RulesetGet(f, req.NoSetContent)
		return &proto.Response{Chains: cs}, err
	case proto.CmdRulesetFlush:
		return &proto.Response{}, st.RulesetFlush(f)
	case proto.CmdChainSet, proto.CmdChainLoad, proto.CmdChainUpdate:
		c, err := requestChain(req, peer)
		if err != nil {
			return nil, err
		}
		switch req.Cmd {
		case proto.CmdChainSet:
			err = st.ChainSet(f, c, peer, req.DryRun)
		case proto.CmdChainLoad:
			err = st.ChainLoad(f, c, peer, req.DryRun)
		default:
			err = st.ChainUpdate(f, c, peer, req.DryRun)
		}
		return &proto.Response{}, err
	case proto.CmdChainAttach:
		if req.Name == "" || req.HookOpts == nil {
			return nil, errorf(proto.EINVAL, "chain.attach needs name and hook_opts")
		}
		return &proto.Response{}, st.ChainAttach(f, req.Name, *req.HookOpts, peer)
	case proto.CmdChainUpdSet:
		if req.Name == "" || req.SetName == "" {
			return nil, errorf(proto.EINVAL, "chain.update-set needs name and set_name")
		}
		return &proto.Response{}, st.ChainUpdateSet(f, req.Name, req.SetName, req.Add, req.Remove, peer, req.DryRun)
	case proto.CmdChainFlush:
		if req.Name == "" {
			return nil, errorf(proto.EINVAL, "chain.flush needs name")
		}
		return &proto.Response{}, st.ChainFlush(f, req.Name)
	case proto.CmdChainGet:
		if req.Name == "" {
			return nil, errorf(proto.EINVAL, "chain.get needs name")
		}
		cs, err := st.ChainGet(f, req.Name, req.NoSetContent)
		return &proto.Response{Chains: []proto.ChainState{cs}}, err
	case proto.CmdContextDump:
		return &proto.Response{Dump: st.Dump()}, nil
	case proto.CmdChainUpdateRules:
		// Per-rule updates (rules.go).
		if req.Name == "" {
			return nil, errorf(proto.EINVAL, "chain.update-rules needs name")
		}
		expect := -1
		if req.ExpectRules != nil {
			expect = *req.ExpectRules
		}
		return &proto.Response{}, st.ChainUpdateRules(f, req.Name, req.Edits, expect, peer, req.DryRun)
	}
	return nil, errorf(proto.EINVAL, "command %s is not handled here", req.Cmd)
}

// requestRuleset returns the request's ruleset: its IR, or its bfcli text
// parsed with interface names resolved in the client's namespace.
func requestRuleset(req *proto.Request, peer Peer) (*ir.Ruleset, error) {
	switch {
	case req.Ruleset != nil && req.Text != "":
		return nil, errorf(proto.EINVAL, "give either ruleset or text, not both")
	case req.Ruleset != nil:
		return req.Ruleset, nil
	case req.Text != "":
		if req.Front != proto.FrontCLI {
			return nil, errorf(proto.EINVAL, "text requests are bfcli text: only the cli front may send them")
		}
		env := ir.ParseEnv{}
		if peer != nil {
			env.ResolveIface = func(n string) (uint32, error) { return peer.LookupIface(n, 0) }
		}
		rs, err := cli.Parse("<request>", []byte(req.Text), env)
		if err != nil {
			return nil, errorf(proto.EINVAL, "%w", err)
		}
		return rs, nil
	}
	return nil, errorf(proto.EINVAL, "%s needs a ruleset or text", req.Cmd)
}

// requestChain returns the chain a chain.set/load/update request acts on.
func requestChain(req *proto.Request, peer Peer) (*ir.Chain, error) {
	if req.Chain != nil {
		if req.Ruleset != nil || req.Text != "" {
			return nil, errorf(proto.EINVAL, "give one of chain, ruleset or text")
		}
		if req.Name != "" && req.Name != req.Chain.Name {
			return nil, errorf(proto.EINVAL, "name %q does not match chain %q", req.Name, req.Chain.Name)
		}
		return req.Chain, nil
	}
	rs, err := requestRuleset(req, peer)
	if err != nil {
		return nil, err
	}
	c, err := cli.SelectChain(rs, req.Name)
	if err != nil {
		return nil, errorf(proto.EINVAL, "%w", err)
	}
	return c, nil
}
