package daemon

import (
	"strings"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

func isIptCmd(cmd string) bool { return strings.HasPrefix(cmd, "ipt.") }

// iptBypass lists the generic commands that would change chains of the
// iptables front behind the table the daemon keeps for it (the blob
// ipt.get_entries answers with): that front changes its chains with
// ipt.replace only. Reads (ruleset.get, chain.get, chain.logs) stay open.
var iptBypass = map[string]bool{
	proto.CmdRulesetSet: true, proto.CmdRulesetFlush: true,
	proto.CmdChainSet: true, proto.CmdChainLoad: true, proto.CmdChainAttach: true,
	proto.CmdChainUpdate: true, proto.CmdChainUpdSet: true, proto.CmdChainFlush: true,
	proto.CmdChainUpdateRules: true,
}

// refuseIptBypass refuses a generic change request sent as the iptables
// front.
func refuseIptBypass(req *proto.Request) error {
	if req.Front == proto.FrontIptables && iptBypass[req.Cmd] {
		return errorf(proto.EINVAL, "%s cannot change chains of the iptables front: they follow its table, changed with ipt.replace (iptables, iptables-restore)", req.Cmd)
	}
	return nil
}

// dispatchIpt runs an ipt.* request (front iptables only).
func (s *Server) dispatchIpt(req *proto.Request, peer Peer) (*proto.Response, error) {
	if req.Front != proto.FrontIptables {
		return nil, errorf(proto.EINVAL, "%s requests belong to the iptables front, not %s", req.Cmd, req.Front)
	}
	fam, err := iptFamily(req.Family)
	if err != nil {
		return nil, err
	}
	st := s.state
	switch req.Cmd {
	case proto.CmdIptReplace:
		b, err := st.IptReplace(fam, req.Blob, peer, req.DryRun)
		return &proto.Response{Blob: b}, err
	case proto.CmdIptGetInfo:
		b, err := st.IptGetInfo(fam, req.Blob)
		return &proto.Response{Blob: b}, err
	case proto.CmdIptGetEntries:
		b, err := st.IptGetEntries(fam, req.Blob)
		return &proto.Response{Blob: b}, err
	case proto.CmdIptAddCounters:
		return &proto.Response{}, st.IptAddCounters(fam, req.Blob)
	case proto.CmdIptRevisionMatch, proto.CmdIptRevisionTarget:
		rev, err := st.iptRevision(fam, req.Cmd == proto.CmdIptRevisionTarget, req.Blob)
		return &proto.Response{Revision: rev}, err
	}
	return nil, errorf(proto.EINVAL, "command %s is not handled here", req.Cmd)
}
