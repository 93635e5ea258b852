#!/usr/bin/env bash
# Distributed training with torchrun, as mmdet3d's tools/dist_train.sh:
#   bash tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT in the environment. Without GPUs, GPUS processes
# train on the CPU with gloo.
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
exec bash "$(dirname "${BASH_SOURCE[0]}")/torchrun.sh" "$GPUS" train.py "$CONFIG" --launcher pytorch "$@"
