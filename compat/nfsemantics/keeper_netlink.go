package nfsemantics

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// keeperChain is the chain of the ConntrackKeeper table.
const keeperChain = "keep"

// keeperConn opens an nf_tables netlink connection in the network
// namespace netnsFd (an open nsfs file descriptor).
func keeperConn(netnsFd int) (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(netnsFd))
	if err != nil {
		return nil, fmt.Errorf("nf_tables netlink connection: %w", err)
	}
	return c, nil
}

// keeperTable is the inet table ConntrackKeeper declares.
func keeperTable() *nftables.Table {
	return &nftables.Table{Name: ConntrackKeeperTable, Family: nftables.TableFamilyINet}
}

// keeperExprs are the expressions of `ct state new`: load the conntrack
// state into register 1, keep its NEW bit, compare it with zero.
func keeperExprs() []expr.Any {
	mask := binary.NativeEndian.AppendUint32(nil, expr.CtStateBitNEW)
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// InstallConntrackKeeper creates the ConntrackKeeper table through
// nf_tables netlink in the network namespace netnsFd, so conntrack is
// active there. It is idempotent: a table of bpfilter's (keeper_owner.go)
// is reset to exactly one `ct state new` rule, in one transaction (the
// conntrack reference is never dropped in between). A table of that name
// that bpfilter did not create is left alone and ErrForeignKeeper is
// returned; a missing one is created exclusively, so one created meanwhile
// makes the transaction fail rather than be adopted.
func InstallConntrackKeeper(netnsFd int) error {
	exists, owned, err := ConntrackKeeperOwned(netnsFd)
	if err != nil {
		return err
	}
	if exists && !owned {
		return foreignKeeperError()
	}
	c, err := keeperConn(netnsFd)
	if err != nil {
		return err
	}
	var t *nftables.Table
	if exists {
		t = c.AddTable(keeperTable())
	} else {
		t = c.CreateTable(keeperTable())
	}
	ch := c.AddChain(&nftables.Chain{Name: keeperChain, Table: t})
	c.FlushChain(ch)
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: keeperExprs(), UserData: keeperUserData()})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("creating nftables table inet %s (keeps conntrack active): %w", ConntrackKeeperTable, err)
	}
	return nil
}

// RemoveConntrackKeeper deletes the ConntrackKeeper table in the network
// namespace netnsFd, dropping its conntrack reference. A missing table is
// not an error; a table bpfilter did not create is never deleted
// (ErrForeignKeeper).
func RemoveConntrackKeeper(netnsFd int) error {
	exists, owned, err := ConntrackKeeperOwned(netnsFd)
	if err != nil || !exists {
		return err
	}
	if !owned {
		return foreignKeeperError()
	}
	c, err := keeperConn(netnsFd)
	if err != nil {
		return err
	}
	c.DelTable(keeperTable())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("deleting nftables table inet %s: %w", ConntrackKeeperTable, err)
	}
	return nil
}

// HasConntrackKeeper reports whether the ConntrackKeeper table exists in
// the network namespace netnsFd.
func HasConntrackKeeper(netnsFd int) (bool, error) {
	c, err := keeperConn(netnsFd)
	if err != nil {
		return false, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing nftables inet tables: %w", err)
	}
	for _, t := range ts {
		if t.Name == ConntrackKeeperTable {
			return true, nil
		}
	}
	return false, nil
}
