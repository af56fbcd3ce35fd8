package localroutes

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// rtmsgLen is sizeof(struct rtmsg).
const rtmsgLen = 12

// Routing table ids (linux/rtnetlink.h).
const (
	tableMain  = unix.RT_TABLE_MAIN
	tableLocal = unix.RT_TABLE_LOCAL
)

// dumpRoutes dumps the IPv4 routes of every table over conn (an
// rtnetlink socket of the mirrored namespace) and returns the local and
// main tables' routes, in dump order.
func dumpRoutes(conn *netlink.Conn) (local, main []Route, err error) {
	req := make([]byte, rtmsgLen)
	req[0] = unix.AF_INET
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dumping IPv4 routes (RTM_GETROUTE): %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE {
			continue
		}
		r, table, err := parseRoute(m.Data)
		if err != nil {
			return nil, nil, err
		}
		switch table {
		case tableLocal:
			local = append(local, r)
		case tableMain:
			main = append(main, r)
		}
	}
	return local, main, nil
}

// parseRoute decodes one RTM_NEWROUTE message (struct rtmsg, then
// attributes) into a Route and its table id.
func parseRoute(b []byte) (Route, uint32, error) {
	var r Route
	if len(b) < rtmsgLen {
		return r, 0, fmt.Errorf("short route message (%d bytes)", len(b))
	}
	if b[0] != unix.AF_INET {
		return r, 0, nil
	}
	r.Len, r.TOS, r.Type = b[1], b[3], b[7]
	table := uint32(b[4])
	flags := binary.NativeEndian.Uint32(b[8:12])
	r.Dead = flags&unix.RTNH_F_DEAD != 0
	ad, err := netlink.NewAttributeDecoder(b[rtmsgLen:])
	if err != nil {
		return r, 0, fmt.Errorf("route attributes: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.RTA_TABLE:
			table = ad.Uint32()
		case unix.RTA_DST:
			if d := ad.Bytes(); len(d) == 4 {
				copy(r.Dst[:], d)
			}
		case unix.RTA_OIF:
			r.Ifindex = ad.Uint32()
		case unix.RTA_MULTIPATH:
			r.Ifindex, r.Dead = parseMultipath(ad.Bytes(), r.Dead)
		}
	}
	if err := ad.Err(); err != nil {
		return r, 0, fmt.Errorf("route attributes: %w", err)
	}
	return r, table, nil
}

// parseMultipath returns the first nexthop's device of an RTA_MULTIPATH
// attribute (struct rtnexthop entries) and whether every nexthop is dead.
func parseMultipath(b []byte, dead bool) (uint32, bool) {
	var first uint32
	allDead, n := true, 0
	for len(b) >= 8 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 8 || l > len(b) {
			break
		}
		if n == 0 {
			first = uint32(binary.NativeEndian.Uint32(b[4:8]))
		}
		if b[2]&unix.RTNH_F_DEAD == 0 {
			allDead = false
		}
		n++
		step := (l + 3) &^ 3
		if step > len(b) {
			break
		}
		b = b[step:]
	}
	return first, dead || (n > 0 && allDead)
}
