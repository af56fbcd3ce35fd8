#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded number of executions
# (FUZZTIME, default 20000x; an execution count rather than a duration avoids
# golang/go#75804), so the fuzzers' seed corpora and a little exploration are
# part of the suite.
set -euo pipefail
fuzztime=${FUZZTIME:-20000x}
status=0
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg=$(dirname "$file")
	echo "=== fuzz $pkg $name ($fuzztime)"
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"; then
		status=1
	fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/vendor/' | sort)
exit $status
