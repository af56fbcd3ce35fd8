package main

import (
	"fmt"
	"io"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
)

// runImport reads the kernel's iptables and ip6tables tables of the
// current network namespace and loads their filter tables into bpfilter
// (only checking and translating them with --dry-run). It reports every
// table or rule it could not take and exits 1 when anything was left out.
// With --reject-as-drop, REJECT rules are imported as DROP rules, with a
// warning per rule (import_reject.go).
func runImport(dir string, args []string, stdout, stderr io.Writer) int {
	dry, rejectAsDrop := false, false
	for _, a := range args {
		switch a {
		case "--dry-run", "-n":
			dry = true
		case "--reject-as-drop":
			rejectAsDrop = true
		default:
			fmt.Fprintf(stderr, "bpfilter-iptables import: unknown option %q\n", a)
			return iptables.ExitParameter
		}
	}
	c, err := client.Dial(dir)
	if err != nil {
		fmt.Fprintf(stderr, "bpfilter-iptables import: %v\n", err)
		return iptables.ExitResource
	}
	defer c.Close()
	failed := false
	for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
		tool := "iptables"
		if fam == abi.IPv6 {
			tool = "ip6tables"
		}
		if err := importFamily(c, fam, tool, dry, rejectAsDrop, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", tool, err)
			failed = true
		}
	}
	if failed {
		return iptables.ExitOther
	}
	return iptables.ExitOK
}

// importFamily imports one family's filter table; other tables are
// reported as not imported.
func importFamily(c *client.Client, fam abi.Family, tool string, dry, rejectAsDrop bool, out, warn io.Writer) error {
	names, err := kernel.TableNames(fam)
	if err != nil {
		return err
	}
	var skipped []string
	var filter *abi.Table
	if len(names) > 0 {
		kc, err := kernel.Open(fam)
		if err != nil {
			return err
		}
		defer kc.Close()
		for _, n := range names {
			if n != "filter" {
				skipped = append(skipped, n)
				continue
			}
			if filter, _, _, err = kc.ReadTable(n); err != nil {
				return err
			}
		}
	}
	for _, n := range skipped {
		fmt.Fprintf(out, "%s: table %s not imported: bpfilter supports only the filter table\n", tool, n)
	}
	if filter == nil {
		fmt.Fprintf(out, "%s: no filter table in the kernel, nothing to import\n", tool)
		if len(skipped) > 0 {
			return fmt.Errorf("%d table(s) not imported", len(skipped))
		}
		return nil
	}
	if rejectAsDrop {
		rejectToDrop(fam, tool, filter, warn)
	}
	d := &iptables.DaemonConn{C: c, Fam: fam}
	info, err := d.GetInfo("filter")
	if err != nil {
		return err
	}
	rep, blob, err := abi.Encode(filter)
	if err != nil {
		return err
	}
	old, err := d.Replace(rep, blob, info.NumEntries, dry)
	if err != nil {
		return fmt.Errorf("filter table not imported: %w", err)
	}
	n := 0
	for _, ch := range filter.Chains {
		n += len(ch.Rules)
	}
	if dry {
		fmt.Fprintf(out, "%s: filter table (%d chains, %d rules) can be imported\n", tool, len(filter.Chains), n)
	} else {
		// The kernel's counters come along, like a restore with --counters.
		if err := d.AddCounters("filter", abi.EntryCounters(filter, old[:0])); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: imported the filter table (%d chains, %d rules)\n", tool, len(filter.Chains), n)
	}
	if len(skipped) > 0 {
		return fmt.Errorf("%d table(s) not imported", len(skipped))
	}
	return nil
}
