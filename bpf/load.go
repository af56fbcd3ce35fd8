package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// DefaultLogSizePow is the default verifier log size, as a power of two
// (1<<24 bytes = 16 MiB, enough for large rulesets).
const DefaultLogSizePow = 24

// LoadOptions control Load.
type LoadOptions struct {
	// Verbose asks the verifier for its log on every load (instruction
	// level and statistics), kept in each Program's VerifierLog. Without
	// it the log is only requested when a load fails.
	Verbose bool
	// LogSizePow sets the starting verifier log size to 1<<LogSizePow bytes
	// (0: DefaultLogSizePow). The log grows when the kernel asks for more.
	LogSizePow uint8
	// Token, when set, must allow every map and program type of the spec;
	// Load checks that first so a missing delegation is reported by name
	// (see Token for how the token reaches the kernel).
	Token *Token
}

func (o LoadOptions) logSize() uint32 {
	pow := o.LogSizePow
	if pow == 0 {
		pow = DefaultLogSizePow
	}
	if pow > 30 {
		pow = 30
	}
	return 1 << pow
}

// LoadError is a failed load. When the verifier rejected a program, Log
// holds its whole log and Error prints it.
type LoadError struct {
	// Program is the name of the program that failed ("" for a map).
	Program string
	// Err is the error from cilium/ebpf.
	Err error
	// Log is the verifier log ("" when the kernel gave none).
	Log string
}

// Error prints the error and, when there is one, the verifier log.
func (e *LoadError) Error() string {
	var ve *ebpf.VerifierError
	if errors.As(e.Err, &ve) {
		return fmt.Sprintf("load program %s: %+v", e.Program, ve)
	}
	if e.Program != "" {
		return fmt.Sprintf("load program %s: %v", e.Program, e.Err)
	}
	return fmt.Sprintf("load collection: %v", e.Err)
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

// Load creates the maps and programs of spec in the kernel. On failure
// the error is a *LoadError carrying the verifier log.
func Load(spec *ebpf.CollectionSpec, opts LoadOptions) (*ebpf.Collection, error) {
	if spec == nil {
		return nil, errors.New("load collection: nil spec")
	}
	if opts.Token != nil {
		if err := opts.Token.allows(spec); err != nil {
			return nil, &LoadError{Err: err}
		}
	}
	copts := ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogSizeStart: opts.logSize()},
	}
	if opts.Verbose {
		copts.Programs.LogLevel = ebpf.LogLevelInstruction | ebpf.LogLevelStats
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, copts)
	if err != nil {
		le := &LoadError{Err: err, Program: failedProgram(spec, err)}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			le.Log = fmt.Sprintf("%+v", ve)
		}
		return nil, le
	}
	return coll, nil
}

// failedProgram guesses which program failed from cilium/ebpf's error
// text, which names it ("program bf_prog: ...").
func failedProgram(spec *ebpf.CollectionSpec, err error) string {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return ""
	}
	if len(spec.Programs) == 1 {
		for name := range spec.Programs {
			return name
		}
	}
	for name := range spec.Programs {
		if containsWord(err.Error(), "program "+name) {
			return name
		}
	}
	return "?"
}

func containsWord(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub && (i+len(sub) == len(s) || s[i+len(sub)] == ':') {
			return true
		}
	}
	return false
}
