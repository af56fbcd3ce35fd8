package iptables

import (
	"bytes"
	"fmt"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// CheckTable runs the kernel-side checks of a whole table (what
// xt_check_match/xt_check_target and the extensions' checkentry refuse),
// as the kernel does on IPT_SO_SET_REPLACE; the bpfilter daemon runs it on
// every table it receives.
func CheckTable(fam abi.Family, t *abi.Table) error { return checkTable(fam, t) }

// DaemonConn sends the iptables requests of one family to the bpfilter
// daemon (docs/PROTOCOL.md, "iptables requests"), in the kernel's formats.
type DaemonConn struct {
	C   *client.Client
	Fam abi.Family
}

func (d *DaemonConn) do(cmd string, blob []byte) (*proto.Response, error) {
	return d.C.Do(&proto.Request{Front: proto.FrontIptables, Cmd: cmd, Family: int(d.Fam), Blob: blob})
}

// GetInfo is IPT_SO_GET_INFO.
func (d *DaemonConn) GetInfo(table string) (abi.Info, error) {
	r, err := d.do(proto.CmdIptGetInfo, abi.MarshalInfoRequest(table))
	if err != nil {
		return abi.Info{}, fmt.Errorf("get info of %s table %q: %w", d.Fam, table, err)
	}
	return abi.UnmarshalInfo(r.Blob)
}

// ReadTable reads a table's info and entries and decodes them; it also
// returns the entries blob.
func (d *DaemonConn) ReadTable(table string) (*abi.Table, []byte, error) {
	info, err := d.GetInfo(table)
	if err != nil {
		return nil, nil, err
	}
	r, err := d.do(proto.CmdIptGetEntries, abi.MarshalGetEntriesRequest(table, info.Size))
	if err != nil {
		return nil, nil, fmt.Errorf("get entries of %s table %q: %w", d.Fam, table, err)
	}
	_, blob, err := abi.UnmarshalGetEntries(r.Blob)
	if err != nil {
		return nil, nil, fmt.Errorf("get entries of %s table %q: %w", d.Fam, table, err)
	}
	t, err := abi.Decode(d.Fam, info, blob)
	if err != nil {
		return nil, nil, fmt.Errorf("decode %s table %q from the daemon: %w", d.Fam, table, err)
	}
	return t, blob, nil
}

// Replace is IPT_SO_SET_REPLACE: it returns the replaced table's counters.
func (d *DaemonConn) Replace(rep abi.Replace, entries []byte, numCounters uint32, dryRun bool) ([]abi.Counters, error) {
	rep.NumCounters, rep.Counters = numCounters, 0
	r, err := d.C.Do(&proto.Request{Front: proto.FrontIptables, Cmd: proto.CmdIptReplace, Family: int(d.Fam),
		Blob: rep.Marshal(entries), DryRun: dryRun})
	if err != nil {
		return nil, fmt.Errorf("replace %s table %q: %w", d.Fam, rep.Name, err)
	}
	return abi.UnmarshalCounters(r.Blob)
}

// AddCounters is IPT_SO_SET_ADD_COUNTERS.
func (d *DaemonConn) AddCounters(table string, cs []abi.Counters) error {
	if _, err := d.do(proto.CmdIptAddCounters, abi.MarshalCountersInfo(table, cs)); err != nil {
		return fmt.Errorf("add counters to %s table %q: %w", d.Fam, table, err)
	}
	return nil
}

// DaemonTables returns a Tables whose tables are read from the bpfilter
// daemon on first use, like KernelTables reads the kernel's. Tables the
// daemon does not implement fail like a kernel without the table module.
// CommitDaemon writes changed tables back.
func DaemonTables(d *DaemonConn) *Tables {
	ts := NewTables(d.Fam)
	ts.read = map[string][]byte{}
	ts.Loader = func(name string) (*abi.Table, error) {
		if _, ok := tableHooks[name]; !ok {
			return NewTable(d.Fam, name)
		}
		t, blob, err := d.ReadTable(name)
		if client.IsErrno(err, proto.ENOENT) {
			return nil, &Error{Code: ExitVersion, Msg: "can't initialize " + famCmd(d.Fam) + " table `" + name + "': Table does not exist (do you need to insmod?)\nPerhaps " + famCmd(d.Fam) + " or your kernel needs to be upgraded."}
		}
		if err != nil {
			return nil, err
		}
		ts.read[name] = abi.MaskVolatile(d.Fam, blob)
		return t, nil
	}
	return ts
}

// CommitDaemon replaces every daemon table whose rules changed since it was
// read and carries the counters over with ipt.add_counters, like Commit
// does with the kernel. With test set (iptables-restore --test), the
// daemon checks and translates the tables without installing them.
func (ts *Tables) CommitDaemon(d *DaemonConn, test bool) error {
	for _, name := range ts.Loaded() {
		t := ts.tables[name]
		rep, blob, err := abi.Encode(t)
		if err != nil {
			return fmt.Errorf("commit table %s: %w", name, err)
		}
		if old, ok := ts.read[name]; ok && bytes.Equal(old, abi.MaskVolatile(ts.Family, blob)) && !ts.countersChanged[name] {
			continue
		}
		info, err := d.GetInfo(name)
		if err != nil {
			return err
		}
		old, err := d.Replace(rep, blob, info.NumEntries, test)
		if err != nil {
			return err
		}
		if test {
			continue
		}
		if err := d.AddCounters(name, abi.EntryCounters(t, old)); err != nil {
			return err
		}
		ts.read[name] = abi.MaskVolatile(ts.Family, blob)
	}
	return nil
}
