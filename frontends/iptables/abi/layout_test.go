package abi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cLayout compiles a C program against the uapi headers that prints
// "name value" lines, and returns the values.
func cLayout(t *testing.T, src string) map[string]int {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot check struct layouts against the uapi headers")
	}
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
		t.Fatalf("run layout program: %v", err)
	}
	vals := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		v, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		vals[f[0]] = v
	}
	return vals
}

// TestLayoutMatchesHeaders checks every size and offset in layout.go
// against /usr/include/linux/netfilter*.
func TestLayoutMatchesHeaders(t *testing.T) {
	vals := cLayout(t, `
#include <stdio.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#define P(n, v) printf("%s %d\n", n, (int)(v))
int main(void) {
	P("TableNameLen", XT_TABLE_MAXNAMELEN);
	P("ExtNameLen", XT_EXTENSION_MAXNAMELEN);
	P("FunctionNameLen", XT_FUNCTION_MAXNAMELEN);
	P("IfNameLen", IFNAMSIZ);
	P("NumHooks", NF_INET_NUMHOOKS);
	P("Align", XT_ALIGN(1));
	P("CountersSize", sizeof(struct xt_counters));
	P("IPv4HeaderSize", sizeof(struct ipt_ip));
	P("IPv4EntrySize", sizeof(struct ipt_entry));
	P("IPv6HeaderSize", sizeof(struct ip6t_ip6));
	P("IPv6EntrySize", sizeof(struct ip6t_entry));
	P("ExtHeaderSize", sizeof(struct xt_entry_match));
	P("TargetHeaderSize", sizeof(struct xt_entry_target));
	P("StandardTargetSize", XT_ALIGN(sizeof(struct xt_standard_target)));
	P("ErrorTargetSize", XT_ALIGN(sizeof(struct xt_error_target)));
	P("GetInfoSize", sizeof(struct ipt_getinfo));
	P("GetInfo6Size", sizeof(struct ip6t_getinfo));
	P("GetEntriesHeaderSize", sizeof(struct ipt_get_entries));
	P("GetEntries6HeaderSize", sizeof(struct ip6t_get_entries));
	P("ReplaceHeaderSize", sizeof(struct ipt_replace));
	P("Replace6HeaderSize", sizeof(struct ip6t_replace));
	P("CountersInfoHeaderSize", sizeof(struct xt_counters_info));
	P("RevisionRequestSize", sizeof(struct xt_get_revision));
	P("v4OffNFCache", offsetof(struct ipt_entry, nfcache));
	P("v4OffTargetOffset", offsetof(struct ipt_entry, target_offset));
	P("v4OffNextOffset", offsetof(struct ipt_entry, next_offset));
	P("v4OffComeFrom", offsetof(struct ipt_entry, comefrom));
	P("v4OffCounters", offsetof(struct ipt_entry, counters));
	P("v6OffNFCache", offsetof(struct ip6t_entry, nfcache));
	P("v6OffTargetOffset", offsetof(struct ip6t_entry, target_offset));
	P("v6OffNextOffset", offsetof(struct ip6t_entry, next_offset));
	P("v6OffComeFrom", offsetof(struct ip6t_entry, comefrom));
	P("v6OffCounters", offsetof(struct ip6t_entry, counters));
	P("v4IPProto", offsetof(struct ipt_ip, proto));
	P("v4IPFlags", offsetof(struct ipt_ip, flags));
	P("v4IPInv", offsetof(struct ipt_ip, invflags));
	P("v4IPIn", offsetof(struct ipt_ip, iniface));
	P("v4IPInMask", offsetof(struct ipt_ip, iniface_mask));
	P("v6IPProto", offsetof(struct ip6t_ip6, proto));
	P("v6IPTOS", offsetof(struct ip6t_ip6, tos));
	P("v6IPFlags", offsetof(struct ip6t_ip6, flags));
	P("v6IPInv", offsetof(struct ip6t_ip6, invflags));
	P("v6IPIn", offsetof(struct ip6t_ip6, iniface));
	P("v6IPInMask", offsetof(struct ip6t_ip6, iniface_mask));
	P("repHookEntry", offsetof(struct ipt_replace, hook_entry));
	P("repUnderflow", offsetof(struct ipt_replace, underflow));
	P("repNumCounters", offsetof(struct ipt_replace, num_counters));
	P("repCounters", offsetof(struct ipt_replace, counters));
	P("infoHookEntry", offsetof(struct ipt_getinfo, hook_entry));
	P("infoUnderflow", offsetof(struct ipt_getinfo, underflow));
	P("infoNumEntries", offsetof(struct ipt_getinfo, num_entries));
	P("SoSetReplace", IPT_SO_SET_REPLACE);
	P("SoSetAddCounters", IPT_SO_SET_ADD_COUNTERS);
	P("SoGetInfo", IPT_SO_GET_INFO);
	P("SoGetEntries", IPT_SO_GET_ENTRIES);
	P("SoGetRevisionMatch", IPT_SO_GET_REVISION_MATCH);
	P("SoGetRevisionTarget", IPT_SO_GET_REVISION_TARGET);
	P("So6SetReplace", IP6T_SO_SET_REPLACE);
	P("So6GetEntries", IP6T_SO_GET_ENTRIES);
	P("So6GetRevisionMatch", IP6T_SO_GET_REVISION_MATCH);
	P("So6GetRevisionTarget", IP6T_SO_GET_REVISION_TARGET);
	P("VerdictReturn", XT_RETURN);
	P("FlagGoto", IPT_F_GOTO);
	P("FlagFragment", IPT_F_FRAG);
	P("FlagV6Proto", IP6T_F_PROTO);
	P("FlagV6TOS", IP6T_F_TOS);
	P("FlagV6Goto", IP6T_F_GOTO);
	P("InvFrag", IPT_INV_FRAG);
	P("InvProto", IPT_INV_PROTO);
	P("InvSrcIP", IPT_INV_SRCIP);
	P("InvDstIP", IPT_INV_DSTIP);
	P("InvVIAIn", IPT_INV_VIA_IN);
	P("InvVIAOut", IPT_INV_VIA_OUT);
	P("InvTOS", IP6T_INV_TOS);
	P("InvMask", IPT_INV_MASK);
	P("InvMaskV6", IP6T_INV_MASK);
	return 0;
}
`)
	want := map[string]int{
		"TableNameLen": TableNameLen, "ExtNameLen": ExtNameLen, "FunctionNameLen": FunctionNameLen,
		"IfNameLen": IfNameLen, "NumHooks": NumHooks, "Align": Align, "CountersSize": CountersSize,
		"IPv4HeaderSize": IPv4HeaderSize, "IPv4EntrySize": IPv4EntrySize,
		"IPv6HeaderSize": IPv6HeaderSize, "IPv6EntrySize": IPv6EntrySize,
		"ExtHeaderSize": ExtHeaderSize, "TargetHeaderSize": ExtHeaderSize,
		"StandardTargetSize": StandardTargetSize, "ErrorTargetSize": ErrorTargetSize,
		"GetInfoSize": GetInfoSize, "GetInfo6Size": GetInfoSize,
		"GetEntriesHeaderSize": GetEntriesHeaderSize, "GetEntries6HeaderSize": GetEntriesHeaderSize,
		"ReplaceHeaderSize": ReplaceHeaderSize, "Replace6HeaderSize": ReplaceHeaderSize,
		"CountersInfoHeaderSize": CountersInfoHeaderSize, "RevisionRequestSize": RevisionRequestSize,
		"v4OffNFCache": v4OffNFCache, "v4OffTargetOffset": v4OffTargetOffset, "v4OffNextOffset": v4OffNextOffset,
		"v4OffComeFrom": v4OffComeFrom, "v4OffCounters": v4OffCounters,
		"v6OffNFCache": v6OffNFCache, "v6OffTargetOffset": v6OffTargetOffset, "v6OffNextOffset": v6OffNextOffset,
		"v6OffComeFrom": v6OffComeFrom, "v6OffCounters": v6OffCounters,
		// Offsets used by IPHeader.marshal/unmarshalIP.
		"v4IPProto": 80, "v4IPFlags": 82, "v4IPInv": 83, "v4IPIn": 16, "v4IPInMask": 48,
		"v6IPProto": 128, "v6IPTOS": 130, "v6IPFlags": 131, "v6IPInv": 132, "v6IPIn": 64, "v6IPInMask": 96,
		// Offsets used by Replace.Marshal and Info.Marshal.
		"repHookEntry": 44, "repUnderflow": 64, "repNumCounters": 84, "repCounters": 88,
		"infoHookEntry": 36, "infoUnderflow": 56, "infoNumEntries": 76,
		"SoSetReplace": SoSetReplace, "SoSetAddCounters": SoSetAddCounters, "SoGetInfo": SoGetInfo,
		"SoGetEntries": SoGetEntries, "SoGetRevisionMatch": SoGetRevisionMatch, "SoGetRevisionTarget": SoGetRevisionTarget,
		"So6SetReplace": SoSetReplace, "So6GetEntries": SoGetEntries,
		"So6GetRevisionMatch": So6GetRevisionMatch, "So6GetRevisionTarget": So6GetRevisionTarget,
		"VerdictReturn": int(VerdictReturn), "FlagGoto": FlagGoto, "FlagFragment": FlagFragment,
		"FlagV6Proto": FlagV6Proto, "FlagV6TOS": FlagV6TOS, "FlagV6Goto": FlagV6Goto,
		"InvFrag": InvFrag, "InvProto": InvProto, "InvSrcIP": InvSrcIP, "InvDstIP": InvDstIP,
		"InvVIAIn": InvVIAIn, "InvVIAOut": InvVIAOut, "InvTOS": InvTOS, "InvMask": InvMask, "InvMaskV6": InvMaskV6,
	}
	for name, w := range want {
		got, ok := vals[name]
		if !ok {
			t.Errorf("%s: not printed by the C program", name)
			continue
		}
		if got != w {
			t.Errorf("%s: header says %d, Go says %d", name, got, w)
		}
	}
}
