package nfsemantics

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/nftables"
)

// Ownership of the keeper table: bpfilter marks the `ct state new` rule
// it creates with a rule comment (NFTA_RULE_USERDATA holding the
// NFTNL_UDATA_RULE_COMMENT attribute, which nft lists as
// `comment "..."`). A table named ConntrackKeeperTable whose keep chain
// has no rule with that comment was created by someone else: the daemon
// neither adopts (flushes) nor deletes it.

// KeeperComment is the comment of the keeper rule bpfilter creates.
const KeeperComment = "bpfilter-go conntrack keeper"

// udataRuleComment is NFTNL_UDATA_RULE_COMMENT (libnftnl udata.h).
const udataRuleComment = 0

// ErrForeignKeeper reports a table named ConntrackKeeperTable that
// bpfilter did not create.
var ErrForeignKeeper = errors.New("exists and was not created by bpfilter")

func foreignKeeperError() error {
	return fmt.Errorf("nftables table inet %s %w (its chain %q has no rule with the comment %q); bpfilter neither adopts nor deletes it: rename or delete it to let bpfilter keep conntrack active",
		ConntrackKeeperTable, ErrForeignKeeper, keeperChain, KeeperComment)
}

// keeperUserData is the rule user data carrying KeeperComment: one
// type-length-value attribute, the string NUL-terminated as nft writes it.
func keeperUserData() []byte {
	v := append([]byte(KeeperComment), 0)
	return append([]byte{udataRuleComment, byte(len(v))}, v...)
}

// ownsRule reports whether a rule's user data carries KeeperComment.
func ownsRule(ud []byte) bool {
	want := append([]byte(KeeperComment), 0)
	for len(ud) >= 2 {
		typ, n := ud[0], int(ud[1])
		if len(ud) < 2+n {
			return false
		}
		if typ == udataRuleComment && bytes.Equal(ud[2:2+n], want) {
			return true
		}
		ud = ud[2+n:]
	}
	return false
}

// ConntrackKeeperOwned reports whether the keeper table exists in the
// network namespace netnsFd and whether bpfilter created it.
func ConntrackKeeperOwned(netnsFd int) (exists, owned bool, err error) {
	if exists, err = HasConntrackKeeper(netnsFd); err != nil || !exists {
		return exists, false, err
	}
	c, err := keeperConn(netnsFd)
	if err != nil {
		return true, false, err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return true, false, fmt.Errorf("listing nftables inet chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != ConntrackKeeperTable || ch.Name != keeperChain {
			continue
		}
		rules, err := c.GetRules(keeperTable(), ch)
		if err != nil {
			return true, false, fmt.Errorf("listing the rules of nftables chain inet %s %s: %w", ConntrackKeeperTable, keeperChain, err)
		}
		for _, r := range rules {
			if ownsRule(r.UserData) {
				return true, true, nil
			}
		}
	}
	return true, false, nil
}
