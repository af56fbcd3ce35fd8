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
package cli
