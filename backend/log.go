package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func logMapSpec(size uint32) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: LogMap, Type: ebpf.RingBuf, MaxEntries: size}
}

// logRateMapSpec holds, per rule, the time of the last logged entry, for
// "log ... every DUR".
func logRateMapSpec(nrules int) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: LogRateMap, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(max(nrules, 1))}
}

// emitLog writes a log record for rule idx (see logrecord.go).
func (g *gen) emitLog(idx int, r *ir.Rule) error {
	b := g.b
	skip := b.fresh("log_done")
	b.emit(asm.FnKtimeGetNs.Call(), asm.StoreMem(asm.R10, stackTime, asm.R0, asm.DWord))
	if every := r.Log.Every; every > 0 {
		b.emit(
			asm.StoreImm(asm.R10, stackScratch, int64(idx), asm.Word),
		)
		b.emit(mapLookup(LogRateMap, stackScratch)...)
		g.verboseCall("bpf_map_lookup_elem ("+LogRateMap+")", failNull)
		b.emit(
			asm.JEq.Imm(asm.R0, 0, skip),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.LoadMem(asm.R2, asm.R10, stackTime, asm.DWord),
			asm.JEq.Imm(asm.R1, 0, skip+"_first"),
			asm.Mov.Reg(asm.R3, asm.R2),
			asm.Sub.Reg(asm.R3, asm.R1),
			asm.LoadImm(asm.R4, int64(every), asm.DWord),
			asm.JLT.Reg(asm.R3, asm.R4, skip),
		)
		b.label(skip + "_first")
		b.emit(asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord))
	}
	b.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(LogMap),
		asm.Mov.Imm(asm.R2, LogRecordSize),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
	)
	g.verboseCall("bpf_ringbuf_reserve ("+LogMap+")", failNull)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.StoreMem(asm.R10, stackRing, asm.R0, asm.DWord),
	)
	want := int32(0)
	if r.Log.Headers&ir.LogLink != 0 && g.l2Len() > 0 {
		want |= logFlagWantLink
	}
	if r.Log.Headers&ir.LogInternet != 0 || g.fl == ir.FlavourCgroupSockAddr {
		want |= logFlagWantNetwork
	}
	if r.Log.Headers&ir.LogTransport != 0 || g.fl == ir.FlavourCgroupSockAddr {
		want |= logFlagWantTrans
	}
	if g.fl == ir.FlavourCgroupSockAddr {
		b.emit(
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.LoadMem(asm.R1, asm.R10, stackRing, asm.DWord),
			asm.StoreMem(asm.R1, logOffPID, asm.R0, asm.Word),
			asm.Add.Imm(asm.R1, logOffComm),
			asm.Mov.Imm(asm.R2, 16),
			asm.FnGetCurrentComm.Call(),
		)
	}
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackRing, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, stackTime, asm.DWord),
		asm.StoreMem(asm.R1, logOffTime, asm.R2, asm.DWord),
		asm.StoreImm(asm.R1, logOffRule, int64(idx), asm.Word),
		asm.StoreImm(asm.R1, logOffVerdict, int64(r.Verdict.Kind), asm.Byte),
		asm.StoreImm(asm.R1, logOffHook, int64(g.hook), asm.Byte),
		asm.StoreMem(asm.R1, logOffL4Proto, regL4, asm.Byte),
		asm.StoreMem(asm.R1, logOffPktLen, regLen, asm.Word),
		asm.StoreMem(asm.R1, logOffL3Proto, regL3, asm.Half),
		// flags: l4Known (bit 0), l3Present (bit 1), l4Present (bit 2).
		asm.Mov.Reg(asm.R2, regL4),
		asm.RSh.Imm(asm.R2, 8),
		asm.And.Imm(asm.R2, 1),
		asm.Mov.Reg(asm.R3, regL3),
		asm.RSh.Imm(asm.R3, 15),
		asm.And.Imm(asm.R3, 2),
		asm.Or.Reg(asm.R2, asm.R3),
		asm.Mov.Reg(asm.R3, regL4),
		asm.RSh.Imm(asm.R3, 7),
		asm.And.Imm(asm.R3, 4),
		asm.Or.Reg(asm.R2, asm.R3),
		asm.Or.Imm(asm.R2, want),
		asm.StoreMem(asm.R1, logOffFlags, asm.R2, asm.Byte),
	)
	if g.fl != ir.FlavourCgroupSockAddr {
		b.emit(storeImmDW(asm.R1, logOffPID, 0))
		for off := int16(0); off < 16; off += 8 {
			b.emit(storeImmDW(asm.R1, logOffComm+off, 0))
		}
	}
	copyOrZero := func(dst, src int16, n int16, want bool) {
		for off := int16(0); off < n; off += 8 {
			if want {
				b.emit(asm.LoadMem(asm.R2, asm.R10, src+off, asm.DWord), asm.StoreMem(asm.R1, dst+off, asm.R2, asm.DWord))
			} else {
				b.emit(storeImmDW(asm.R1, dst+off, 0))
			}
		}
	}
	copyOrZero(logOffLink, stackEth, ethBufLen, want&logFlagWantLink != 0)
	copyOrZero(logOffNetwork, stackL3, l3BufLen, want&logFlagWantNetwork != 0)
	copyOrZero(logOffTransport, stackL4, l4BufCap, want&logFlagWantTrans != 0)
	b.emit(asm.Mov.Imm(asm.R2, 0), asm.FnRingbufSubmit.Call())
	b.label(skip)
	return nil
}

// checkLog refuses log options the backend cannot honour.
func checkLog(l *ir.Log) error {
	if l.Every < 0 {
		return fmt.Errorf("log every %s: negative interval", l.Every)
	}
	return nil
}
