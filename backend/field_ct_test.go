package backend

import (
	"github.com/bpfilter-go/bpfilter/ir"
)

// ctEntryMatches returns one match per conntrack entry field and operator.
func ctEntryMatches(neg bool) []ir.Match {
	port := ir.KindPort.UintValue
	u32 := ir.KindU32.UintValue
	a4, m4 := []byte{198, 18, 0, 0}, []byte{255, 255, 0, 0}
	a6 := []byte{0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	var ms []ir.Match
	for _, f := range []ir.Field{ir.CtOrigSaddr4, ir.CtOrigDaddr4, ir.CtReplSaddr4, ir.CtReplDaddr4} {
		ms = append(ms, ir.Match{Field: f, Op: ir.OpEq, Negate: neg, Value: a4, Mask: m4})
	}
	for _, f := range []ir.Field{ir.CtOrigSaddr6, ir.CtOrigDaddr6, ir.CtReplSaddr6, ir.CtReplDaddr6} {
		ms = append(ms, ir.Match{Field: f, Op: ir.OpEq, Negate: neg, Value: a6})
	}
	for _, f := range []ir.Field{ir.CtOrigSport, ir.CtOrigDport, ir.CtReplSport, ir.CtReplDport} {
		ms = append(ms, ir.Match{Field: f, Op: ir.OpEq, Negate: neg, Value: port(80)},
			ir.Match{Field: f, Op: ir.OpRange, Negate: neg, Value: port(1000), High: port(2000)})
	}
	return append(ms,
		ir.Match{Field: ir.CtProto, Op: ir.OpEq, Negate: neg, Value: []byte{ir.ProtoTCP}},
		ir.Match{Field: ir.CtDir, Op: ir.OpEq, Negate: neg, Value: []byte{ir.CtDirReply}},
		ir.Match{Field: ir.CtStatus, Op: ir.OpAny, Negate: neg, Value: ir.KindCtStatus.UintValue(ir.CtStatusAssured)},
		ir.Match{Field: ir.CtExpire, Op: ir.OpEq, Negate: neg, Value: u32(10)},
		ir.Match{Field: ir.CtExpire, Op: ir.OpRange, Negate: neg, Value: u32(10), High: u32(1 << 31)},
	)
}
