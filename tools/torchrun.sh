#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh: run a tool under torchrun with mmdet3d's environment variables.
#   bash tools/torchrun.sh GPUS TOOL [tool args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT (or PORT) in the environment.
set -euo pipefail
GPUS=$1
TOOL=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" "$ROOT/tools/$TOOL" "$@"
