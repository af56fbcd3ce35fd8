# bpfilter-go. Every target that runs something installs what it needs first.
GO ?= go
BIN := bin
# Fuzz budgets are execution counts, not durations: go1.26 reports a spurious
# "context deadline exceeded" failure when a duration ends under load
# (golang/go#75804, fixed in go1.27).
FUZZTIME ?= 20000x
TEST_TIMEOUT ?= 30m

.PHONY: all deps build test unit fuzz vet demo bench clean

all: build

deps:
	@scripts/install-deps.sh

# bpfilter-iptables answers to the iptables tool names (argv[0]).
IPT_LINKS := iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...
	@for l in $(IPT_LINKS); do ln -sf bpfilter-iptables $(BIN)/$$l; done

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The whole suite: vet, unit + kernel + end-to-end tests (root), short fuzzing.
test: deps vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=$(FUZZTIME) scripts/fuzz-short.sh

fuzz: deps
	FUZZTIME=$(FUZZTIME) scripts/fuzz-short.sh

demo: build
	scripts/demo.sh

bench: deps
	scripts/bench.sh

clean:
	rm -rf $(BIN)
