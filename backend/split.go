package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Long linear runs are split over several programs chained by tail calls
// through the prog array bf_chunks: program k (bf_prog for k = 0, then
// bf_prog_<k>) evaluates rules [from_k, to_k) and tail-calls program k+1,
// the last one applies the policy. Each program is verified on its own,
// so verification time grows linearly with the rules, and each stays
// below the verifier's limits (1M processed instructions, 8192 pending
// branches). A program parses the packet again (its stack is its own);
// marks written by earlier programs live in the context, so later
// meta.mark reads see them. Only program 0 counts parse errors.

// ChunksMap is the prog array of the chained programs.
const ChunksMap = "bf_chunks"

// Chunk sizing: linear rules per program, and the kernel's limit of 33
// tail calls in a row (MAX_TAIL_CALL_CNT), so at most 34 programs.
const (
	chunkLinearRules = 2048
	maxChunks        = 34
)

// chunkRange is the rules [from, to) of one program.
type chunkRange struct{ from, to int }

// splitChunks cuts the rules into programs of about chunkLinearRules
// linear rules each (a lookup segment compiled as lookups counts as one
// rule and is never cut); more linear rules than maxChunks programs of
// that size raise the chunk size.
func splitChunks(p *optimizer.Plan, lookupAt map[int]int, nrules int) ([]chunkRange, error) {
	linear := 0
	for i := 0; i < nrules; i++ {
		if si, ok := lookupAt[i]; ok {
			i = p.Segments[si].End - 1
		}
		linear++
	}
	per := max(chunkLinearRules, (linear+maxChunks-1)/maxChunks)
	var out []chunkRange
	from, n := 0, 0
	for i := 0; i < nrules; i++ {
		if n >= per {
			out = append(out, chunkRange{from, i})
			from, n = i, 0
		}
		if si, ok := lookupAt[i]; ok {
			i = p.Segments[si].End - 1
		}
		n++
	}
	out = append(out, chunkRange{from, nrules})
	if len(out) > maxChunks {
		return nil, fmt.Errorf("%d programs needed for %d linear rules, more than the %d tail calls allow", len(out), linear, maxChunks)
	}
	return out, nil
}

// chunkProgName names program k.
func chunkProgName(k int) string {
	if k == 0 {
		return ProgramName
	}
	return fmt.Sprintf("%s_%d", ProgramName, k)
}

// emitTailCall jumps to program k; when the tail call fails the code
// after it runs (the policy).
func (g *gen) emitTailCall(k int) {
	g.b.comment("continue in program %d", k)
	g.b.emit(
		asm.Mov.Reg(asm.R1, regCtx),
		asm.LoadMapPtr(asm.R2, 0).WithReference(ChunksMap),
		asm.Mov.Imm(asm.R3, int32(k)),
		asm.FnTailCall.Call(),
	)
	g.verboseCall(fmt.Sprintf("bpf_tail_call (%s)", chunkProgName(k)), failAlways)
}

// addChunkPrograms compiles programs 1.. of g.chunks into spec, with the
// prog array that chains them. It returns their instruction count.
func (g *gen) addChunkPrograms(p *plan, spec *ebpf.CollectionSpec) (int, error) {
	if len(g.chunks) < 2 {
		return 0, nil
	}
	main := spec.Programs[ProgramName]
	arr := &ebpf.MapSpec{Name: ChunksMap, Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: uint32(len(g.chunks))}
	total := 0
	for k := 1; k < len(g.chunks); k++ {
		cg := *g
		cg.b = newBuilder()
		cg.chunk = k
		if err := cg.emitProgram(p); err != nil {
			return 0, fmt.Errorf("program %d: %w", k, err)
		}
		insns, err := cg.b.finish()
		if err != nil {
			return 0, fmt.Errorf("program %d: %w", k, err)
		}
		name := chunkProgName(k)
		insns[0] = btf.WithFuncMetadata(insns[0], &btf.Func{Name: name, Linkage: btf.GlobalFunc, Type: btfMain.Type})
		ps := main.Copy()
		ps.Name, ps.Instructions = name, insns
		spec.Programs[name] = ps
		arr.Contents = append(arr.Contents, ebpf.MapKV{Key: uint32(k), Value: name})
		total += len(insns)
	}
	spec.Maps[ChunksMap] = arr
	return total, nil
}
