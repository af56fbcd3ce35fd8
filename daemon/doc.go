// Package daemon is the bpfilter daemon: the runtime context (every chain,
// per hook and attachment, with EEXIST-style refusal of a second chain on
// the same spot), atomic plans that load and attach new chains before the
// old ones are touched, counter carry-over, crash-safe persistence (a
// snapshot and an append-only journal of deltas, journal.go) and restore
// of the context and of the pinned BPF objects, per-rule edits
// (rules.go), the socket server with per-request SO_PEERCRED checks, and
// acting in the client's network and mount namespaces.
//
// The daemon never generates code: chains are run by package engine
// through the Program and Loader interfaces (EngineLoader). The socket
// protocol is in package proto and docs/PROTOCOL.md; package client is a
// client; package bfcli is the bfcli command.
package daemon
