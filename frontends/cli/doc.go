// Package cli implements the bfcli language, the native rule language of
// bpfilter: a lexer and parser that turn bfcli text into an ir.Ruleset with
// positioned errors ("rules.bf:12:7: unknown matcher ..."), a printer that
// writes canonical bfcli text which parses back to the same IR, a listing
// printer with counters (bfcli ruleset get / chain get), and the chain
// selection rule shared by the chain set/load/update commands.
//
// The grammar, as accepted by Parse:
//
//	ruleset  = { chain }
//	chain    = "chain" NAME HOOK [ "{" opt { "," opt } "}" ] POLICY { set } { rule }
//	opt      = "ifindex=" N | "iface=" NAME | "cgpath=" PATH
//	         | "priorities=" N "-" N | "family=" ( "inet4" | "inet6" )
//	set      = "set" NAME key "in" elems
//	key      = "(" FIELD { "," FIELD } ")"
//	elems    = "{" [ elem { ( ";" | NEWLINE ) elem } [ ";" ] ] "}"
//	elem     = VALUE { "," VALUE }
//	rule     = "rule" { matcher } { action } verdict
//	matcher  = FIELD [ "not" ] [ OP ] VALUE
//	         | key [ "not" ] "in" ( elems | NAME )
//	action   = "counter" | "mark" N
//	         | "log" [ HEADERS ] [ "every" DURATION ]
//	verdict  = "ACCEPT" | "DROP" | "CONTINUE" | "NEXT" | "REDIRECT" IFACE ( "in" | "out" )
//
// Whitespace and newlines separate tokens anywhere (newlines also separate
// set elements); "#" starts a comment that runs to the end of the line.
// Each action appears at most once per rule, in any order. Fields, their
// operators, value syntax and the hooks they are valid on come from the ir
// field table.
//
// IR conventions of this frontend:
//
//   - An anonymous set written inline in a rule becomes an ir.Set with
//     Anonymous set and the name "__anon_N" (N counts the chain's anonymous
//     sets from 0, skipping taken names); the match's Field is the first
//     key field. Named sets are declared before the rules, so a chain's
//     Sets are its named sets in order, then its anonymous sets in rule
//     order.
//   - A subnet set (single ip4.snet/ip4.dnet/ip6.snet/ip6.dnet key) stores
//     each element's masked address in Key and its length in PrefixLen.
//   - A bare "log" records ir.LogAll; explicit headers are refused on
//     cgroup sock_addr hooks, where a bare log records the socket data.
//   - "iface=NAME" keeps NAME in HookOpts.Iface and, when the ParseEnv can
//     resolve names, also fills Ifindex. Interface names in meta.iface and
//     REDIRECT are resolved at parse time and stored as indexes.
//   - Rules and chains carry an ir.Origin with the file, line, column and
//     the text as written (comments left out).
package cli
