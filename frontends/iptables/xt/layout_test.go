package xt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCodecSizesMatchHeaders checks each codec's data size against
// XT_ALIGN(sizeof(struct ...)) from the uapi headers, and a few field
// offsets the Marshal methods rely on.
func TestCodecSizesMatchHeaders(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot check struct layouts against the uapi headers")
	}
	src := `
#include <stdio.h>
#include <stddef.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_iprange.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_length.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_mac.h>
#include <linux/netfilter/xt_pkttype.h>
#include <linux/netfilter_ipv4/ipt_ttl.h>
#include <linux/netfilter_ipv6/ip6t_hl.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv6/ip6t_REJECT.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#define P(n, v) printf("%s %d\n", n, (int)(v))
int main(void) {
	P("tcp", XT_ALIGN(sizeof(struct xt_tcp)));
	P("udp", XT_ALIGN(sizeof(struct xt_udp)));
	P("icmp", XT_ALIGN(sizeof(struct ipt_icmp)));
	P("icmp6", XT_ALIGN(sizeof(struct ip6t_icmp)));
	P("multiport/1", XT_ALIGN(sizeof(struct xt_multiport_v1)));
	P("multiport.pflags", offsetof(struct xt_multiport_v1, pflags));
	P("multiport.invert", offsetof(struct xt_multiport_v1, invert));
	P("iprange/1", XT_ALIGN(sizeof(struct xt_iprange_mtinfo)));
	P("iprange.flags", offsetof(struct xt_iprange_mtinfo, flags));
	P("conntrack/3", XT_ALIGN(sizeof(struct xt_conntrack_mtinfo3)));
	P("conntrack/1", XT_ALIGN(sizeof(struct xt_conntrack_mtinfo1)));
	P("conntrack/2", XT_ALIGN(sizeof(struct xt_conntrack_mtinfo2)));
	P("conntrack1.match_flags", offsetof(struct xt_conntrack_mtinfo1, match_flags));
	P("conntrack1.status_mask", offsetof(struct xt_conntrack_mtinfo1, status_mask));
	P("conntrack2.status_mask", offsetof(struct xt_conntrack_mtinfo2, status_mask));
	P("conntrack1.origsrc_port", offsetof(struct xt_conntrack_mtinfo1, origsrc_port));
	P("conntrack.expires_min", offsetof(struct xt_conntrack_mtinfo3, expires_min));
	P("conntrack.l4proto", offsetof(struct xt_conntrack_mtinfo3, l4proto));
	P("conntrack.match_flags", offsetof(struct xt_conntrack_mtinfo3, match_flags));
	P("conntrack.state_mask", offsetof(struct xt_conntrack_mtinfo3, state_mask));
	P("conntrack.repldst_port_high", offsetof(struct xt_conntrack_mtinfo3, repldst_port_high));
	P("conntrack.state_alias", XT_CONNTRACK_STATE_ALIAS);
	P("conntrack.untracked", XT_CONNTRACK_STATE_UNTRACKED);
	P("conntrack.snat", XT_CONNTRACK_STATE_SNAT);
	P("conntrack.dnat", XT_CONNTRACK_STATE_DNAT);
	P("state", XT_ALIGN(sizeof(struct xt_state_info)));
	P("comment", XT_ALIGN(sizeof(struct xt_comment_info)));
	P("mark/1", XT_ALIGN(sizeof(struct xt_mark_mtinfo1)));
	P("addrtype/0", XT_ALIGN(sizeof(struct xt_addrtype_info)));
	P("addrtype0.invert_dest", offsetof(struct xt_addrtype_info, invert_dest));
	P("length", XT_ALIGN(sizeof(struct xt_length_info)));
	P("limit", XT_ALIGN(sizeof(struct xt_rateinfo)));
	P("limit.user", offsetof(struct xt_rateinfo, prev));
	P("limit.credit", offsetof(struct xt_rateinfo, credit));
	P("limit.cost", offsetof(struct xt_rateinfo, cost));
	P("limit.master", offsetof(struct xt_rateinfo, master));
	P("addrtype/1", XT_ALIGN(sizeof(struct xt_addrtype_info_v1)));
	P("mac", XT_ALIGN(sizeof(struct xt_mac_info)));
	P("mac.invert", offsetof(struct xt_mac_info, invert));
	P("pkttype", XT_ALIGN(sizeof(struct xt_pkttype_info)));
	P("ttl", XT_ALIGN(sizeof(struct ipt_ttl_info)));
	P("hl", XT_ALIGN(sizeof(struct ip6t_hl_info)));
	P("LOG", XT_ALIGN(sizeof(struct xt_log_info)));
	P("LOG.prefix", offsetof(struct xt_log_info, prefix));
	P("REJECT", XT_ALIGN(sizeof(struct ipt_reject_info)));
	P("REJECT6", XT_ALIGN(sizeof(struct ip6t_reject_info)));
	P("MARK/2", XT_ALIGN(sizeof(struct xt_mark_tginfo2)));
	P("NFLOG", XT_ALIGN(sizeof(struct xt_nflog_info)));
	P("NFLOG.prefix", offsetof(struct xt_nflog_info, prefix));
	P("NFQUEUE/3", XT_ALIGN(sizeof(struct xt_NFQ_info_v3)));
	P("NFQUEUE/0", XT_ALIGN(sizeof(struct xt_NFQ_info)));
	P("reject.tcp-reset", IPT_TCP_RESET);
	P("reject6.tcp-reset", IP6T_TCP_RESET);
	return 0;
}
`
	dir := t.TempDir()
	c := filepath.Join(dir, "layout.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "layout")
	if out, err := exec.Command("gcc", "-o", bin, c).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		v, _ := strconv.Atoi(f[1])
		got[f[0]] = v
	}
	size := func(kind Kind, fam Family, name string, rev uint8) int {
		c := Lookup(kind, fam, name, rev)
		if c == nil {
			t.Fatalf("no codec for %s %s/%d", kind, name, rev)
		}
		return c.Size
	}
	want := map[string]int{
		"tcp": size(Match, IPv4, "tcp", 0), "udp": size(Match, IPv4, "udp", 0),
		"icmp": size(Match, IPv4, "icmp", 0), "icmp6": size(Match, IPv6, "icmp6", 0),
		"multiport/1": size(Match, IPv4, "multiport", 1), "multiport.pflags": 32, "multiport.invert": 47,
		"iprange/1": size(Match, IPv4, "iprange", 1), "iprange.flags": 64,
		"conntrack/3": size(Match, IPv4, "conntrack", 3),
		"conntrack/1": size(Match, IPv4, "conntrack", 1), "conntrack/2": size(Match, IPv4, "conntrack", 2),
		"conntrack1.match_flags": 146, "conntrack1.status_mask": 151, "conntrack2.status_mask": 152,
		"conntrack1.origsrc_port": 138, "conntrack.expires_min": 128, "conntrack.l4proto": 136,
		"conntrack.match_flags": 146, "conntrack.state_mask": 150, "conntrack.repldst_port_high": 160,
		"conntrack.state_alias": CTStateAlias, "conntrack.untracked": CTStateUntracked, "conntrack.snat": CTStateSNAT, "conntrack.dnat": CTStateDNAT,
		"state": size(Match, IPv4, "state", 0), "comment": size(Match, IPv4, "comment", 0),
		"mark/1": size(Match, IPv4, "mark", 1), "addrtype/0": size(Match, IPv4, "addrtype", 0),
		"addrtype0.invert_dest": 8, "length": size(Match, IPv4, "length", 0),
		"limit": size(Match, IPv4, "limit", 0), "limit.user": Lookup(Match, IPv4, "limit", 0).UserSize,
		"limit.credit": 16, "limit.cost": 24, "limit.master": 32,
		"addrtype/1": size(Match, IPv4, "addrtype", 1), "mac": size(Match, IPv4, "mac", 0), "mac.invert": 8,
		"pkttype": size(Match, IPv4, "pkttype", 0), "ttl": size(Match, IPv4, "ttl", 0), "hl": size(Match, IPv6, "hl", 0),
		"LOG": size(Target, IPv4, "LOG", 0), "LOG.prefix": 2,
		"REJECT": size(Target, IPv4, "REJECT", 0), "REJECT6": size(Target, IPv6, "REJECT", 0),
		"MARK/2": size(Target, IPv4, "MARK", 2), "NFLOG": size(Target, IPv4, "NFLOG", 0), "NFLOG.prefix": 12,
		"NFQUEUE/3": size(Target, IPv4, "NFQUEUE", 3), "NFQUEUE/0": size(Target, IPv4, "NFQUEUE", 0),
		"reject.tcp-reset": RejectTCPReset, "reject6.tcp-reset": Reject6TCPReset,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not printed", name)
		} else if g != w {
			t.Errorf("%s: header says %d, Go says %d", name, g, w)
		}
	}
}

// TestCodecRoundTrip decodes and re-encodes patterned data for every codec:
// Marshal must give the same bytes for every byte a field covers.
func TestCodecRoundTrip(t *testing.T) {
	for _, c := range Codecs() {
		data := make([]byte, c.Size)
		for i := range data {
			data[i] = byte(i*7 + 1)
		}
		info, err := c.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		again := info.Marshal()
		if len(again) != c.Size {
			t.Errorf("%s %s/%d: Marshal gives %d bytes, want %d", c.Kind, c.Name, c.Revision, len(again), c.Size)
			continue
		}
		info2, _ := c.Decode(again)
		if a, b := info2.Marshal(), again; string(a) != string(b) {
			t.Errorf("%s %s/%d: decode/marshal is not stable", c.Kind, c.Name, c.Revision)
		}
		if _, err := c.Decode(data[:len(data)-1]); err == nil {
			t.Errorf("%s %s/%d: short data accepted", c.Kind, c.Name, c.Revision)
		}
	}
}
