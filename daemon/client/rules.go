package client

import "github.com/bpfilter-go/bpfilter/daemon/proto"

// UpdateRules sends chain.update-rules: edits applied in order to chain
// name of front. expectRules >= 0 makes the daemon refuse (EAGAIN) when
// the chain does not have that many rules (it changed since the client
// read it); -1 skips the check.
func (c *Client) UpdateRules(front, name string, edits []proto.RuleEdit, expectRules int, dryRun bool) error {
	req := &proto.Request{Front: front, Cmd: proto.CmdChainUpdateRules, Name: name, Edits: edits, DryRun: dryRun}
	if expectRules >= 0 {
		req.ExpectRules = &expectRules
	}
	_, err := c.Do(req)
	return err
}
