module github.com/bpfilter-go/bpfilter

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	github.com/coreos/go-iptables v0.8.0
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.49.0
)
