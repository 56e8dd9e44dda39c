#!/bin/bash
# upgrade_design.sh from the congestion-control build 3a26e43, whose
# sockets keep all of their state in sr_socks (bpf/legacy.h).
SR_OLD_REV=${SR_OLD_REV_CC:-3a26e43} exec bash "$(dirname "$0")/upgrade_design.sh"
