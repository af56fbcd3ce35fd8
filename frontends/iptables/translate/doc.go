// Package translate maps a decoded iptables table (package abi, with the
// match and target data decoded by package xt) to bpfilter's IR.
//
// Only the filter table is translated. Its builtin chains become netfilter
// chains: INPUT on BF_HOOK_NF_LOCAL_IN, FORWARD on BF_HOOK_NF_FORWARD and
// OUTPUT on BF_HOOK_NF_LOCAL_OUT, at the priorities given in Options
// (default: the daemon's iptables priorities, -2 and -1, before the kernel's
// own filter table at 0). User chains become ir.Chain values with User set,
// reached by ir.Jump and ir.Goto verdicts; RETURN is ir.Return.
//
// A netfilter program sees both address families, an iptables table only
// one: every builtin chain starts with a guard rule (index 0) that ACCEPTs
// packets of the other family, so they go on to the next hook function
// (ip6tables' chain, or the kernel) as they would in netfilter. Every other
// IR rule is exactly one iptables rule, in order: IR rule i+1 of a builtin
// chain and IR rule i of a user chain is iptables rule i+1 (1-based, as
// iptables numbers them), so counters map back one to one.
//
// Every rule keeps its iptables text (Options.RuleText, normally the -S
// printer of package compat/iptables) in ir.Rule.Origin.Text. Anything that
// cannot be translated exactly is refused with an *Error naming the chain,
// the rule and the feature; nothing is returned then.
package translate
