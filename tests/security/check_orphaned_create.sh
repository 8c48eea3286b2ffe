#!/usr/bin/env bash
# Found by probing (issue 11, item 4): killing the control plane during a
# create left the VM running forever, its record `starting` (3 of 3 tries).
# Replays exactly that with the chaos suite's machinery, create only: three
# rounds killing the control plane, the agent, then the control plane
# again mid-create, each followed by the check that records, agent and
# host agree and nothing leaked (tests/chaos/chaos.py).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
CHAOS_KINDS=create CHAOS_ROUNDS=${ORPHAN_ROUNDS:-3} exec bash "$root/tests/chaos/run.sh"
