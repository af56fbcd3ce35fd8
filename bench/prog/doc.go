// Package prog holds the program-cost benchmarks: generated chains are
// loaded (not attached) and run with BPF_PROG_TEST_RUN, repeated in the
// kernel, to measure ns/packet by rule count and set size, and how long
// compiling and loading a chain takes. Verdicts are checked inside the
// benchmarks so a fast wrong program cannot pass for a fast right one.
package prog
