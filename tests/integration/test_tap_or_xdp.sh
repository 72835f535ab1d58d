#!/usr/bin/env bash
# The walkthrough's first three steps over net_af_xdp instead of
# net_af_packet: the same veth, an XDP socket in copy mode (veth has no
# zero-copy). net_af_xdp works in this environment (checked with testpmd);
# net_tap would need a bridge inside the gateway namespace.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=af_xdp
rig_daemon_only "tests the daemon's devices"
rig_init 15 fullnat
RIG_DPDK_DEVICE="net_af_xdp0,iface=veth-gw,start_queue=0,queue_count=1"
rig_expose_and_scale replace
rig_check "gateway still running" rig_gateway_alive
rig_finish
