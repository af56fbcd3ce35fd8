package localroutes

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpRoutes6 dumps the IPv6 routes of the local and main tables over
// conn, one Route6 per nexthop.
func dumpRoutes6(conn *netlink.Conn) ([]Route6, error) {
	req := make([]byte, rtmsgLen)
	req[0] = unix.AF_INET6
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return nil, fmt.Errorf("dumping IPv6 routes (RTM_GETROUTE): %w", err)
	}
	var out []Route6
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE {
			continue
		}
		rs, err := parseRoute6(m.Data)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Table == tableLocal || r.Table == tableMain {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// parseRoute6 decodes one IPv6 RTM_NEWROUTE message into its nexthops'
// routes.
func parseRoute6(b []byte) ([]Route6, error) {
	if len(b) < rtmsgLen {
		return nil, fmt.Errorf("short route message (%d bytes)", len(b))
	}
	if b[0] != unix.AF_INET6 {
		return nil, nil
	}
	r := Route6{Len: b[1], SrcLen: b[2], Table: uint32(b[4]), Protocol: b[5], Type: b[7]}
	r.Dead = binary.NativeEndian.Uint32(b[8:12])&unix.RTNH_F_DEAD != 0
	ad, err := netlink.NewAttributeDecoder(b[rtmsgLen:])
	if err != nil {
		return nil, fmt.Errorf("route attributes: %w", err)
	}
	var multipath []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.RTA_TABLE:
			r.Table = ad.Uint32()
		case unix.RTA_DST:
			if d := ad.Bytes(); len(d) == 16 {
				copy(r.Dst[:], d)
			}
		case unix.RTA_OIF:
			r.Ifindex = ad.Uint32()
		case unix.RTA_GATEWAY:
			r.Gateway = true
		case unix.RTA_PRIORITY:
			r.Metric = ad.Uint32()
		case unix.RTA_MULTIPATH:
			multipath = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("route attributes: %w", err)
	}
	if multipath == nil {
		return []Route6{r}, nil
	}
	// struct rtnexthop entries, each followed by its attributes.
	var out []Route6
	for len(multipath) >= 8 {
		l := int(binary.NativeEndian.Uint16(multipath))
		if l < 8 || l > len(multipath) {
			break
		}
		nh := r
		nh.Dead = r.Dead || multipath[2]&unix.RTNH_F_DEAD != 0
		nh.Ifindex = binary.NativeEndian.Uint32(multipath[4:8])
		nh.Gateway = false
		if nad, err := netlink.NewAttributeDecoder(multipath[8:l]); err == nil {
			for nad.Next() {
				if nad.Type() == unix.RTA_GATEWAY {
					nh.Gateway = true
				}
			}
		}
		out = append(out, nh)
		step := (l + 3) &^ 3
		if step > len(multipath) {
			break
		}
		multipath = multipath[step:]
	}
	return out, nil
}

// ifaMsgLen is sizeof(struct ifaddrmsg).
const ifaMsgLen = 8

// dumpAddrs6 dumps the IPv6 addresses of every device over conn.
func dumpAddrs6(conn *netlink.Conn) ([]Addr6, error) {
	req := make([]byte, ifaMsgLen)
	req[0] = unix.AF_INET6
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return nil, fmt.Errorf("dumping IPv6 addresses (RTM_GETADDR): %w", err)
	}
	var out []Addr6
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < ifaMsgLen || m.Data[0] != unix.AF_INET6 {
			continue
		}
		a := Addr6{Ifindex: binary.NativeEndian.Uint32(m.Data[4:8])}
		flags := uint32(m.Data[2])
		ad, err := netlink.NewAttributeDecoder(m.Data[ifaMsgLen:])
		if err != nil {
			return nil, fmt.Errorf("address attributes: %w", err)
		}
		found := false
		for ad.Next() {
			switch ad.Type() {
			case unix.IFA_ADDRESS, unix.IFA_LOCAL:
				if d := ad.Bytes(); len(d) == 16 && !found {
					copy(a.Addr[:], d)
					found = true
				}
			case unix.IFA_FLAGS:
				flags = ad.Uint32()
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("address attributes: %w", err)
		}
		// __ipv6_chk_addr_and_flags: an optimistic address counts as not
		// tentative; a tentative one is not found.
		if flags&unix.IFA_F_OPTIMISTIC != 0 {
			flags &^= unix.IFA_F_TENTATIVE
		}
		a.Usable = flags&unix.IFA_F_TENTATIVE == 0
		if found {
			out = append(out, a)
		}
	}
	return out, nil
}

// fibRuleHdrLen is sizeof(struct fib_rule_hdr).
const fibRuleHdrLen = 12

// defaultRules6 reports whether the namespace's IPv6 policy rules are
// exactly the defaults: priority 0 to the local table, 32766 to the main
// table, without selectors. Otherwise it returns a description of why not.
func defaultRules6(conn *netlink.Conn) (string, error) {
	req := make([]byte, fibRuleHdrLen)
	req[0] = unix.AF_INET6
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETRULE, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return "", fmt.Errorf("dumping IPv6 policy rules (RTM_GETRULE): %w", err)
	}
	type rule struct{ prio, table uint32 }
	var rules []rule
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWRULE || len(m.Data) < fibRuleHdrLen || m.Data[0] != unix.AF_INET6 {
			continue
		}
		h := m.Data
		if h[1] != 0 || h[2] != 0 || h[3] != 0 || h[7] != unix.FR_ACT_TO_TBL {
			return "an IPv6 policy rule with a selector or a non-table action", nil
		}
		r := rule{table: uint32(h[4])}
		ad, err := netlink.NewAttributeDecoder(h[fibRuleHdrLen:])
		if err != nil {
			return "", fmt.Errorf("rule attributes: %w", err)
		}
		for ad.Next() {
			switch ad.Type() {
			case unix.FRA_PRIORITY:
				r.prio = ad.Uint32()
			case unix.FRA_TABLE:
				r.table = ad.Uint32()
			case unix.FRA_IIFNAME, unix.FRA_OIFNAME, unix.FRA_FWMARK, unix.FRA_SRC, unix.FRA_DST,
				unix.FRA_UID_RANGE, unix.FRA_IP_PROTO, unix.FRA_SPORT_RANGE, unix.FRA_DPORT_RANGE, unix.FRA_L3MDEV:
				return "an IPv6 policy rule with a selector", nil
			}
		}
		if err := ad.Err(); err != nil {
			return "", fmt.Errorf("rule attributes: %w", err)
		}
		rules = append(rules, r)
	}
	if len(rules) != 2 || rules[0] != (rule{0, tableLocal}) || rules[1] != (rule{32766, tableMain}) {
		return fmt.Sprintf("IPv6 policy rules other than the defaults (%d rules)", len(rules)), nil
	}
	return "", nil
}
