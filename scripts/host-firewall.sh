#!/usr/bin/env bash
# The firewall rules a Redis host of a multi-host RedisCluster needs on top of Docker's own (run it on each host, as
# root; idempotent). Docker's defaults drop every forwarded connection to a container that does not go to a
# published port (FORWARD policy DROP), and masquerade what containers send to other hosts (their source becomes
# this host's address; the cluster still works: nodes take each other's addresses from cluster-announce-ip).
# This allows, to this host's container subnet only:
#   the client port and the cluster bus port from the other Redis hosts' addresses (replication, MIGRATE, the bus),
#   the client port from the client networks (the bus stays between the hosts);
# and, when a ClusterGateway on another host fronts the cluster, to the gateway's transit subnet on this host only:
#   the spiped servers' port from the gateway hosts' addresses (nothing of the nodes themselves).
# The rules live in the chain REDIS-CLUSTER, jumped to from DOCKER-USER, which dockerd creates but never rewrites,
# so they survive a dockerd restart; not a reboot (run this at boot, e.g. before docker.service).
#
# Usage: host-firewall.sh --subnet CIDR --peer ADDR [--peer ADDR...] [--client CIDR...] [--port N] [--bus-port N]
#                         [--tunnels CIDR --gateway ADDR [--gateway ADDR...] [--tunnel-port N]]
#        host-firewall.sh --remove
#   --subnet    this host's container subnet (the host's `subnet` in clusterHosts)
#   --peer      another Redis host's address, as its containers' traffic arrives here (masqueraded: the host's);
#               none for a cluster on this host alone fronted by a gateway (then --tunnels and --gateway)
#   --client    a network whose clients reach the nodes at their own addresses (routed)
#   --port      the nodes' client port (RedisCluster `port`, default 6379); --bus-port: default port + 10000
#   --tunnels   this host's ClusterGateway transit subnet (ClusterGateway `subnet`/`subnets`)
#   --gateway   the address of a host running the ClusterGateway (its clients' traffic, masqueraded)
#   --tunnel-port  the spiped servers' port (ClusterGateway `serverPort`, default 8379)
set -euo pipefail

CHAIN=REDIS-CLUSTER
usage() { sed -n '14,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "host-firewall.sh: $*" >&2; exit 2; }

ipv4() { # ipv4 <option> <value> <allow /len>: an IPv4 address (or network with allow=1), each octet 0-255
  local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(/([0-9]{1,2}))?$' i
  [[ $2 =~ $re ]] || die "$1 must be an IPv4 address$([ "$3" = 1 ] && echo " or network (a.b.c.d/len)"); got \"$2\""
  for i in 1 2 3 4; do [ "${BASH_REMATCH[$i]}" -le 255 ] || die "$1 must be an IPv4 address; got \"$2\""; done
  [ -z "${BASH_REMATCH[6]}" ] || { [ "$3" = 1 ] && [ "${BASH_REMATCH[6]}" -le 32 ]; } || die "$1 must be $([ "$3" = 1 ] && echo "a.b.c.d/0..32" || echo "an address without /len"); got \"$2\""
}
port() { [[ $2 =~ ^[0-9]{1,5}$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be a port 1..65535; got \"$2\""; }

remove() {
  while iptables -C DOCKER-USER -j "$CHAIN" 2>/dev/null; do iptables -D DOCKER-USER -j "$CHAIN"; done
  if iptables -L "$CHAIN" -n >/dev/null 2>&1; then iptables -F "$CHAIN"; iptables -X "$CHAIN"; fi
  echo "host-firewall.sh: $CHAIN removed"
}

subnet="" port=6379 bus="" peers=() clients=() tunnels="" tunnel_port=8379 gateways=()
[ $# -gt 0 ] || usage
[ "$1" = --remove ] && [ $# -eq 1 ] && { remove; exit 0; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value"
  case "$1" in
    --subnet) ipv4 --subnet "$2" 1; [[ $2 == */* ]] || die "--subnet must be a network (a.b.c.d/len); got \"$2\""; subnet=$2 ;;
    --peer) ipv4 --peer "$2" 0; peers+=("$2") ;;
    --client) ipv4 --client "$2" 1; clients+=("$2") ;;
    --port) port --port "$2"; port=$2 ;;
    --bus-port) port --bus-port "$2"; bus=$2 ;;
    --tunnels) ipv4 --tunnels "$2" 1; [[ $2 == */* ]] || die "--tunnels must be a network (a.b.c.d/len); got \"$2\""; tunnels=$2 ;;
    --gateway) ipv4 --gateway "$2" 0; gateways+=("$2") ;;
    --tunnel-port) port --tunnel-port "$2"; tunnel_port=$2 ;;
    *) echo "host-firewall.sh: unknown option \"$1\"" >&2; usage ;;
  esac
  shift 2
done
[ -n "$subnet" ] || die "--subnet is required (this host's container subnet)"
[ -z "$tunnels" ] || [ ${#gateways[@]} -gt 0 ] || die "--tunnels needs --gateway (the hosts running the ClusterGateway), once per host"
[ ${#gateways[@]} -eq 0 ] || [ -n "$tunnels" ] || die "--gateway needs --tunnels (the gateway's transit subnet on this host)"
[ ${#peers[@]} -gt 0 ] || [ -n "$tunnels" ] || die "--peer is required (the other Redis hosts' addresses), once per host; or, for a cluster on this host alone, --tunnels and --gateway"
bus=${bus:-$((port + 10000))}
port --bus-port "$bus"
[ "$bus" != "$port" ] || die "--bus-port must differ from --port ($port)"

# DOCKER-USER exists once dockerd has started; made here too, so the rules can be in place before it starts.
iptables -L DOCKER-USER -n >/dev/null 2>&1 || iptables -N DOCKER-USER
iptables -L "$CHAIN" -n >/dev/null 2>&1 && iptables -F "$CHAIN" || iptables -N "$CHAIN"
for p in "${peers[@]}"; do iptables -A "$CHAIN" -s "$p" -d "$subnet" -p tcp -m multiport --dports "$port,$bus" -j ACCEPT; done
for c in "${clients[@]}"; do iptables -A "$CHAIN" -s "$c" -d "$subnet" -p tcp --dport "$port" -j ACCEPT; done
for g in "${gateways[@]}"; do iptables -A "$CHAIN" -s "$g" -d "$tunnels" -p tcp --dport "$tunnel_port" -j ACCEPT; done
# Anything else returns to DOCKER-USER and on to Docker's chains, which drop it.
iptables -C DOCKER-USER -j "$CHAIN" 2>/dev/null || iptables -I DOCKER-USER 1 -j "$CHAIN"
echo "host-firewall.sh: $subnet accepts${peers[*]:+ tcp/$port,$bus from ${peers[*]}}${clients[*]:+${peers[*]:+ and} tcp/$port from ${clients[*]}}${tunnels:+; $tunnels accepts tcp/$tunnel_port from ${gateways[*]}}"
