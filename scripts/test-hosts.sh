#!/usr/bin/env bash
# The project's test hosts: K extra Docker engines on this machine (rst-h1..rst-hK), each a dockerd in its own
# network namespace behind a veth to the host, so multi-host tests place nodes on different engines and can cut
# one host off the network. Routed: containers are reached at their own addresses (Redis Cluster announces them).
# Each dockerd keeps Docker's default firewall in its namespace (FORWARD drops what is not published, MASQUERADE
# out), and scripts/host-firewall.sh adds what the README tells users to add on each Redis host.
#
#   host: rst-hN 10.231.N.1/30  <-veth->  netns rst-hN: eth0 10.231.N.2/30, dockerd, container networks 172.26.N.0/24
#         (nodes) and 172.27.N.0/24 (a ClusterGateway's tunnels: a cluster host's transit network, a gateway host's own)
#   engine: unix:///run/rst-hosts/hN.sock; the host routes both /24s via 10.231.N.2 and forwards between rst-h*.
#
# Usage: test-hosts.sh [start [K]]   start or repair (idempotent; K defaults to $RST_TEST_HOSTS or 3)
#        test-hosts.sh stop [K]      stop the engines, delete namespaces, data and the forward rule
#        test-hosts.sh cut N         take host N off the network (its veth down)
#        test-hosts.sh join N        bring host N back (veth up, route again)
#        test-hosts.sh restart N     restart host N's dockerd cleanly (it stops its containers; they start again by their restart policy)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$TEST_HOSTS_RUN # scripts/facts.env
DATA=/var/lib/rst-hosts
FORWARD_RULE=(FORWARD -i rst-h+ -o rst-h+ -j ACCEPT)
# Host N's routed container subnets: NODES.N.0/24 for Redis nodes, TUNNELS.N.0/24 for a ClusterGateway's networks.
NODES=172.26 TUNNELS=172.27
# Host N's veth: VETH.N.1 on this machine, VETH.N.2 in the namespace (its containers' traffic out is masqueraded to it).
VETH=10.231
routed() { echo "$NODES.$1.0/24 $TUNNELS.$1.0/24"; }

engine() { echo "unix://$RUN/h$1.sock"; }
answers() { docker -H "$(engine "$1")" info >/dev/null 2>&1; }

link_up() { # veth up, addresses and routes on both sides (all idempotent)
  local n=$1 ns=rst-h$1
  as_root ip addr replace "$VETH.$n.1/30" dev "$ns"
  as_root ip link set "$ns" up
  as_root ip -n "$ns" link set lo up
  as_root ip -n "$ns" addr replace "$VETH.$n.2/30" dev eth0
  as_root ip -n "$ns" link set eth0 up
  as_root ip -n "$ns" route replace default via "$VETH.$n.1"
  # Link down flushes the host's route through the veth, so it is set again on every start and join; meanwhile
  # a blackhole route (higher metric) drops the host's traffic to a cut host instead of sending it to the default route.
  local net
  for net in $(routed "$n"); do
    as_root ip route replace "$net" via "$VETH.$n.2" dev "$ns"
    as_root ip route replace blackhole "$net" metric 4096
  done
}

network() { # namespace and veth (dockerd turns forwarding on inside)
  local n=$1 ns=rst-h$1
  [ -e "/run/netns/$ns" ] || { echo "    ip netns add $ns"; as_root ip netns add "$ns"; }
  ip link show "$ns" >/dev/null 2>&1 || { echo "    veth $ns (host) <-> eth0 ($ns)"; as_root ip link add "$ns" type veth peer name eth0 netns "$ns"; }
  link_up "$n"
}

without_inherited_fds() { # "$@" with only stdin, stdout and stderr open, in a subshell: a dockerd left running must
  # not keep the caller's files open, e.g. the lock of `flock /tmp/rst-test-hosts.lock test-hosts.sh start`
  ( local fd; for fd in $(ls "/proc/$BASHPID/fd"); do [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] && eval "exec $fd>&-"; done; "$@" )
}

start_engine() { # dockerd inside the namespace (nsenter keeps the host's mounts, so cgroups stay visible)
  local n=$1 dir="$RUN/h$1"
  answers "$n" && return 0
  as_root mkdir -p "$dir" "$DATA/h$n"
  echo '{}' | as_root tee "$dir/daemon.json" >/dev/null # ignore /etc/docker/daemon.json (the main engine's)
  # As on a fresh host, forwarding is off until dockerd turns it on, which is when it sets FORWARD's policy to DROP.
  as_root ip netns exec "rst-h$n" sysctl -qw net.ipv4.ip_forward=0
  echo "    starting dockerd h$n (log: $CACHE_ROOT/rst-h$n.log)"
  without_inherited_fds as_root bash -c "nohup nsenter --net=/run/netns/rst-h$n dockerd --config-file '$dir/daemon.json' \
    -H '$(engine "$n")' --data-root '$DATA/h$n' --exec-root '$dir/exec' --pidfile '$dir/dockerd.pid' \
    --containerd-namespace rst-h$n --containerd-plugins-namespace rst-h$n-plugins \
    --storage-driver=overlay2 >'$CACHE_ROOT/rst-h$n.log' 2>&1 &"
}

wait_engine() {
  local n=$1
  for _ in $(seq 1 120); do answers "$n" && return 0; sleep 0.25; done
  tail -5 "$CACHE_ROOT/rst-h$n.log" >&2
  echo "test host h$n: dockerd did not answer within 30s" >&2
  return 1
}

firewall() { # each host: its node subnet from the other hosts (their veth addresses) and the client port from this
  # machine; its tunnel subnet's spiped port from the other hosts, where a ClusterGateway's clients may run
  local k=$1 n m peers gateways
  for n in $(seq 1 "$k"); do
    peers=() gateways=()
    for m in $(seq 1 "$k"); do [ "$m" = "$n" ] || { peers+=(--peer "$VETH.$m.2"); gateways+=(--gateway "$VETH.$m.2"); }; done
    [ ${#peers[@]} -eq 0 ] || as_root ip netns exec "rst-h$n" bash "$(dirname "$0")/host-firewall.sh" \
      --subnet "$NODES.$n.0/24" "${peers[@]}" --client "$VETH.$n.1" --tunnels "$TUNNELS.$n.0/24" "${gateways[@]}"
  done
}

networks() { local n; for n in $(seq 1 "$1"); do network "$n"; done; }
engines() { local n; for n in "$@"; do start_engine "$n"; done; for n in "$@"; do wait_engine "$n"; done; }
images() { # in parallel; fails if any load fails
  local n pids=() rc=0
  for n in $(seq 1 "$1"); do load_image_on "$(engine "$n")" & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  return $rc
}

start() {
  local k=$1 n missing=()
  command -v dockerd >/dev/null || step "install docker.io" apt_install docker.io
  command -v iptables >/dev/null || step "install iptables" apt_install iptables
  command -v ip >/dev/null || step "install iproute2" apt_install iproute2
  command -v nsenter >/dev/null || step "install util-linux" apt_install util-linux
  [ -f "$IMAGE_TARBALL" ] || step "image" bash "$(dirname "$0")/image.sh"
  step "network namespaces rst-h1..rst-h$k (veths, routes to $NODES.N.0/24 and $TUNNELS.N.0/24)" networks "$k"
  # The main engine sets FORWARD's policy to DROP: let the test hosts reach each other (routed, no NAT).
  as_root iptables -C "${FORWARD_RULE[@]}" 2>/dev/null || as_root iptables -I FORWARD 1 "${FORWARD_RULE[@]:1}"
  for n in $(seq 1 "$k"); do answers "$n" || missing+=("$n"); done
  if [ ${#missing[@]} -gt 0 ]; then step "dockerd on$(printf " h%s" "${missing[@]}")" engines "${missing[@]}"
  else echo "==> dockerd h1..h$k: already running"; fi
  step "firewall: scripts/host-firewall.sh on h1..h$k" firewall "$k"
  step "image $IMAGE_TAG on h1..h$k" images "$k"
}

stop() {
  local k=$1 n pid net
  for n in $(seq 1 "$k"); do
    pid="$(cat "$RUN/h$n/dockerd.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && as_root kill -0 "$pid" 2>/dev/null; then
      echo "==> stopping dockerd h$n (pid $pid)"
      as_root kill "$pid"
      for _ in $(seq 1 80); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    [ -e "/run/netns/rst-h$n" ] && { echo "==> deleting namespace rst-h$n (and its veth)"; as_root ip netns del "rst-h$n"; }
    for net in $(routed "$n"); do as_root ip route del blackhole "$net" metric 4096 2>/dev/null || true; done
    as_root rm -rf --one-file-system "$RUN/h$n" "$DATA/h$n"
  done
  while as_root iptables -C "${FORWARD_RULE[@]}" 2>/dev/null; do as_root iptables -D "${FORWARD_RULE[@]}"; done
  as_root rmdir "$RUN" "$DATA" 2>/dev/null || true
}

restart_engine() { # SIGTERM: dockerd stops its containers (their stop signal and timeout) and exits; then start it again
  local n=$1 pid
  pid="$(cat "$RUN/h$n/dockerd.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && as_root kill -0 "$pid" 2>/dev/null; then
    as_root kill "$pid"
    for _ in $(seq 1 160); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if as_root kill -0 "$pid" 2>/dev/null; then echo "test host h$n: dockerd (pid $pid) did not stop within 40s" >&2; return 1; fi
  fi
  start_engine "$n"
  wait_engine "$n"
}

k="${RST_TEST_HOSTS:-3}"
case "${1:-start}" in
  start) t0=$SECONDS; start "${2:-$k}"; echo "==> test hosts h1..h${2:-$k} ready in $((SECONDS - t0))s" ;;
  stop) t0=$SECONDS; stop "${2:-$k}"; echo "==> test hosts h1..h${2:-$k} stopped in $((SECONDS - t0))s" ;;
  cut) echo "==> cutting host h$2 off (rst-h$2 down)"; as_root ip link set "rst-h$2" down ;;
  join) echo "==> host h$2 back (rst-h$2 up)"; link_up "$2" ;;
  restart) t0=$SECONDS; echo "==> restarting dockerd h$2"; restart_engine "$2"; echo "==> dockerd h$2 back in $((SECONDS - t0))s" ;;
  *) echo "usage: $0 [start [K]] | stop [K] | cut N | join N | restart N" >&2; exit 2 ;;
esac
