#!/usr/bin/env bash
# Removes what an earlier test run left behind when it was killed before its cleanup ran: containers, networks
# and volumes labelled rst-test (every test Scope labels what it creates, and test/integration/deploy.ts labels what
# the components deploy for it) on the local engine and the test hosts, and those of the programs the tests run
# unmodified, whose resources carry no label: the project's own test stack (stacks.test.ts, named *-itstack*) and the
# separate project that installs the packed package (package.test.ts, named itpkg*); and chaos-disk.test.ts's loop mount.
# Otherwise the next run fails on "network with name ... already exists". Never run it beside a test run.
set -uo pipefail
. "$(dirname "$0")/facts.env" # TEST_LABEL, TEST_HOSTS_RUN, BENCH_LOCK_NAME
# A benchmark in progress (its lock names a live process) keeps its own containers and networks (bench*).
keep='^$'
lock="${TMPDIR:-/tmp}/$BENCH_LOCK_NAME"
if [ -f "$lock" ] && kill -0 "$(cat "$lock" 2>/dev/null)" 2>/dev/null; then keep='^bench'; echo "    a benchmark is running: leaving bench* alone"; fi
unlabelled='-itstack|^itpkg'
engines=("")
for sock in "$TEST_HOSTS_RUN"/h*.sock; do [ -S "$sock" ] && engines+=("unix://$sock"); done
for e in "${engines[@]}"; do
  d=(docker); [ -n "$e" ] && d+=(-H "$e")
  "${d[@]}" info >/dev/null 2>&1 || continue
  containers=$({ "${d[@]}" ps -a --filter "label=$TEST_LABEL" --format '{{.Names}}'; "${d[@]}" ps -a --format '{{.Names}}' | grep -E -- "$unlabelled"; } | sort -u | grep -Ev "$keep")
  networks=$({ "${d[@]}" network ls --filter "label=$TEST_LABEL" --format '{{.Name}}'; "${d[@]}" network ls --format '{{.Name}}' | grep -E -- "$unlabelled"; } | sort -u | grep -Ev "$keep")
  volumes=$({ "${d[@]}" volume ls -q --filter "label=$TEST_LABEL"; "${d[@]}" volume ls -q | grep -E -- "$unlabelled"; } | sort -u)
  [ -z "$containers$networks$volumes" ] && continue
  echo "    ${e:-local engine}: removing $(echo $containers | wc -w) container(s), $(echo $networks | wc -w) network(s), $(echo $volumes | wc -w) volume(s) left by an earlier run"
  [ -n "$containers" ] && "${d[@]}" rm -f -v $containers >/dev/null
  [ -n "$networks" ] && "${d[@]}" network rm $networks >/dev/null
  [ -n "$volumes" ] && "${d[@]}" volume rm -f $volumes >/dev/null
done
# chaos-disk.test.ts's small file system (a loop mount behind a volume removed above).
disk=/tmp/rst-chaos-disk
if mountpoint -q "$disk/mnt" 2>/dev/null; then echo "    unmounting $disk/mnt left by an earlier run"; umount "$disk/mnt"; fi
rm -rf "$disk"
exit 0
