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
# The interpreter: $PYTHON, else the repository's .venv/, else python3 on PATH (a cluster node whose environment
# comes from a module or conda, without .venv/ at this path).
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON="$ROOT/.venv/bin/python"
    elif command -v python3 >/dev/null 2>&1; then
        PYTHON=python3
    else
        echo "torchrun.sh: no $ROOT/.venv/bin/python and no python3 on PATH on $(hostname); run tools/setup_env.sh" \
             "there or set PYTHON=/path/to/python" >&2
        exit 1
    fi
fi
"$PYTHON" -c 'import elite, torch' 2>/dev/null || {
    echo "torchrun.sh: $PYTHON on $(hostname) cannot import elite and torch; run tools/setup_env.sh on this node" \
         "(or install the environment there) or set PYTHON" >&2
    exit 1
}
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" "$ROOT/tools/$TOOL" "$@"
