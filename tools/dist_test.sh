#!/usr/bin/env bash
# Distributed testing with torchrun, as mmdet3d's tools/dist_test.sh:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT in the environment. Without GPUs, GPUS processes
# test on the CPU with gloo.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
exec bash "$(dirname "${BASH_SOURCE[0]}")/torchrun.sh" "$GPUS" test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
