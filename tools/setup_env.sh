#!/usr/bin/env bash
# Create (or refresh) the .venv/ at the repository root with the pinned ELiTe stack.
#
# Idempotent: a second run with nothing changed only checks a stamp file and the imports (seconds).
# Why each pin exists is written in README.md ("Environment"); STACK facts live in requirements/.
#
# Environment variables a user may set:
#   ELITE_PYTHON        interpreter used to create .venv (default: python3.11, then python3)
#   ELITE_TORCH         pip requirement(s) for torch/torchvision (default below, CPU machines here);
#                       GPU users set e.g. ELITE_TORCH="torch==2.1.2 torchvision==0.16.2 --index-url ..."
#                       or ELITE_TORCH=keep to use the torch already installed in .venv.
#   ELITE_SPCONV        spconv package (default spconv==2.3.8, CPU; GPU users: e.g. spconv-cu120==2.3.8)
#   ELITE_TORCHSPARSE   also build torchsparse 1.4.0 (the version mmdet3d's torchsparse models use) from a source
#                       tarball or directory of the upstream tag v1.4.0, or "git" to fetch that tag
#                       (https://github.com/mit-han-lab/torchsparse); needs the sparsehash headers (Debian:
#                       apt-get install libsparsehash-dev). Unset: no torchsparse (spconv serves CPU and GPU).
#   ELITE_WHEEL_CACHE   where the built mmcv / torchsparse wheels are kept (default ~/.cache/elite-wheels)
#   MAX_JOBS            parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/requirements"
DEFAULT_TORCH="torch==2.14.1 torchvision==0.29.1"
TORCH_SPEC="${ELITE_TORCH:-$DEFAULT_TORCH}"
SPCONV_SPEC="${ELITE_SPCONV:-spconv==2.3.8}"
MMCV_VERSION="2.1.0"
WHEEL_CACHE="${ELITE_WHEEL_CACHE:-$HOME/.cache/elite-wheels}"
export MAX_JOBS="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
fail() {
    printf '\033[31m[setup] FAILED:\033[0m %s\n' "$1" >&2
    printf '[setup] What to do: %s\n' "$2" >&2
    exit 1
}

# ---------------------------------------------------------------- interpreter and venv
PY="${ELITE_PYTHON:-}"
if [ -z "$PY" ]; then
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
    done
fi
[ -n "$PY" ] || fail "no python3 found" "install Python 3.11 (with venv and headers) or set ELITE_PYTHON=/path/to/python3.11"
PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
case "$PYVER" in
    3.9|3.10|3.11) ;;
    *) fail "Python $PYVER is not supported (mmcv 2.1.0 / mmdet3d 1.4.0 need 3.9-3.11)" \
            "install Python 3.11 and rerun with ELITE_PYTHON=python3.11" ;;
esac

TORCHSPARSE_SRC="${ELITE_TORCHSPARSE:-}"
TORCHSPARSE_VERSION="1.4.0"
TORCHSPARSE_GIT="https://github.com/mit-han-lab/torchsparse.git"
STAMP_KEY="$( { cat "$0" "$REQ"/*.txt "$ROOT/setup.py"; echo "$TORCH_SPEC|$SPCONV_SPEC|$PYVER|$TORCHSPARSE_SRC"; } | sha256sum | cut -c1-16)"
STAMP="$VENV/.elite-setup-$STAMP_KEY"

import_check() {
    "$VENV/bin/python" - <<'PYEOF'
import importlib, sys
mods = ["torch", "torchvision", "mmengine", "mmcv.ops", "mmdet", "mmdet3d.structures", "mmdet3d.datasets",
        "mmdet3d.models", "mmdet3d.evaluation", "spconv.pytorch", "segment_anything", "peft", "pypcd4", "elite",
        "elite_deploy", "onnx", "onnxruntime"]
bad = []
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as e:  # report every broken import, not just the first
        bad.append(f"{m}: {type(e).__name__}: {e}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PYEOF
}

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
    if import_check; then
        say "environment up to date ($VENV)"
        exit 0
    fi
    say "stamp present but imports fail: reinstalling"
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $PY ($PYVER)"
    "$PY" -m venv "$VENV" || fail "could not create $VENV" "install the venv module (Debian: apt install python3-venv) or set ELITE_PYTHON"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip, minus the harmless warnings some machines' pip.conf causes for local index folders that lack a package
pip_run() {
    "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v 'is ignored: it is neither a file nor a directory'
    return "${PIPESTATUS[0]}"
}
PIP=(pip_run)

# ---------------------------------------------------------------- torch
if [ "$TORCH_SPEC" = "keep" ]; then
    "$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null \
        || fail "ELITE_TORCH=keep but torch/torchvision do not import in $VENV" \
                "install your torch + torchvision build into .venv first, or unset ELITE_TORCH"
else
    say "installing $TORCH_SPEC"
    # shellcheck disable=SC2086
    "${PIP[@]}" install -q $TORCH_SPEC \
        || fail "could not install $TORCH_SPEC" \
                "set ELITE_TORCH to a torch/torchvision pair available to you (they must match each other)"
fi
"$VENV/bin/python" -c 'import torch, torchvision; torchvision.ops.nms' 2>/dev/null \
    || fail "torchvision does not load beside the installed torch" \
            "use a matching pair, e.g. ELITE_TORCH=\"$DEFAULT_TORCH\" (torchvision from PyPI does not load beside torch 2.13.0+cpu)"
TORCH_VER="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
CUDA_TAG="$("$VENV/bin/python" -c 'import torch; print("cu" + torch.version.cuda.replace(".", "") if torch.cuda.is_available() else "cpuops")')"

# ---------------------------------------------------------------- build tools (mmcv's setup.py imports pkg_resources and torch)
"${PIP[@]}" install -q -c "$REQ/constraints.txt" -r "$REQ/build.txt" \
    || fail "could not install build tools" "check access to the package registry"

# ---------------------------------------------------------------- wheels built from source, cached per machine
# install_cached_wheel NAME VERSION BUILD_FN: install NAME's wheel from the cache (one folder per NAME, VERSION,
# torch, Python and CUDA), building it first with "BUILD_FN CACHE_FOLDER" when none is cached.
install_cached_wheel() {
    local name="$1" version="$2" build="$3"
    local cache="$WHEEL_CACHE/$name-$version-torch$TORCH_VER-py$PYVER-$CUDA_TAG"
    local wheel
    wheel="$(ls "$cache"/"$name"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$wheel" ]; then
        mkdir -p "$cache"
        "$build" "$cache"
        wheel="$(ls "$cache"/"$name"-*.whl 2>/dev/null | head -n1 || true)"
        [ -n "$wheel" ] || fail "building $name $version wrote no wheel to $cache" "see the build log above"
    else
        say "using cached $name wheel $wheel"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel" || fail "could not install $wheel" "delete $cache and rerun"
}

# ---------------------------------------------------------------- mmcv (built from source with its C++ ops)
build_mmcv() {
    local cache="$1" build_dir src
    say "building mmcv $MMCV_VERSION with ops against torch $TORCH_VER (about 15 minutes on 2 cores; done once per machine)"
    build_dir="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build_dir" \
        || fail "could not download the mmcv $MMCV_VERSION source" "check access to PyPI"
    tar -xzf "$build_dir"/mmcv-"$MMCV_VERSION".tar.gz -C "$build_dir"
    src="$build_dir/mmcv-$MMCV_VERSION"
    # Build fix: torch >= 2.14 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
    if "$VENV/bin/python" -c "import torch,sys; v=tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 14))"; then
        sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
        say "patched mmcv setup.py: -std=c++17 -> -std=c++20 (required by torch $TORCH_VER headers)"
    fi
    (cd "$src" && MMCV_WITH_OPS=1 "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$cache" . ) \
        || fail "building mmcv $MMCV_VERSION failed (log above)" \
                "make sure gcc/g++ and the Python headers are installed; on GPU machines check that nvcc matches torch.version.cuda"
    rm -rf "$build_dir"
}

if "$VENV/bin/python" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    say "mmcv $MMCV_VERSION with ops already installed"
else
    install_cached_wheel mmcv "$MMCV_VERSION" build_mmcv
fi

# ---------------------------------------------------------------- the OpenMMLab stack and the rest, pinned
say "installing pinned runtime packages"
"${PIP[@]}" install -q -c "$REQ/constraints.txt" -r "$REQ/runtime.txt" \
    || fail "could not install requirements/runtime.txt" "check access to the package registry; the pins are in requirements/constraints.txt"
# mmdet / mmdet3d / the two dataset devkits declare stale or over-tight requirements (numpy<2, shapely~=2.0.3,
# open3d, ...). Their real import-time needs are in runtime.txt, so install them without their metadata deps.
"${PIP[@]}" install -q --no-deps -c "$REQ/constraints.txt" -r "$REQ/nodeps.txt" \
    || fail "could not install requirements/nodeps.txt" "check access to the package registry"
# shellcheck disable=SC2086
"${PIP[@]}" install -q -c "$REQ/constraints.txt" $SPCONV_SPEC \
    || fail "could not install $SPCONV_SPEC" "GPU users: set ELITE_SPCONV to the spconv build for your CUDA (e.g. spconv-cu120==2.3.8)"
"${PIP[@]}" install -q --no-deps -e "$ROOT" || fail "could not install the elite package" "run from a full clone of the repository"

# ---------------------------------------------------------------- torchsparse 1.4.0 (optional, built from source)
build_torchsparse() {
    local cache="$1" build_dir
    [ -f /usr/include/google/dense_hash_map ] || [ -f /usr/local/include/google/dense_hash_map ] \
        || fail "torchsparse needs Google's sparsehash headers (google/dense_hash_map), which are not installed" \
                "install them (Debian/Ubuntu: sudo apt-get install libsparsehash-dev; conda: conda install -c conda-forge sparsehash) and rerun"
    build_dir="$(mktemp -d)"
    case "$TORCHSPARSE_SRC" in
        git)
            git clone -q --depth 1 --branch "v$TORCHSPARSE_VERSION" "$TORCHSPARSE_GIT" "$build_dir/src" \
                || fail "could not clone $TORCHSPARSE_GIT (tag v$TORCHSPARSE_VERSION)" \
                        "check internet access, or download the tag's source and set ELITE_TORCHSPARSE to it" ;;
        *.tar.gz|*.tgz)
            [ -f "$TORCHSPARSE_SRC" ] || fail "ELITE_TORCHSPARSE=$TORCHSPARSE_SRC: no such file" \
                "point it at the torchsparse v$TORCHSPARSE_VERSION source tarball, a source directory, or git"
            mkdir "$build_dir/src" && tar -xzf "$TORCHSPARSE_SRC" -C "$build_dir/src" --strip-components=1 \
                || fail "could not unpack $TORCHSPARSE_SRC" "use the torchsparse v$TORCHSPARSE_VERSION source tarball" ;;
        *)
            [ -f "$TORCHSPARSE_SRC/setup.py" ] || fail "ELITE_TORCHSPARSE=$TORCHSPARSE_SRC: not a torchsparse source directory (no setup.py)" \
                "point it at the torchsparse v$TORCHSPARSE_VERSION source tarball, a source directory, or git"
            cp -r "$TORCHSPARSE_SRC" "$build_dir/src" ;;
    esac
    grep -q "$TORCHSPARSE_VERSION" "$build_dir/src/torchsparse/version.py" \
        || fail "$TORCHSPARSE_SRC is not torchsparse $TORCHSPARSE_VERSION (mmdet3d 1.4's torchsparse models need it)" \
                "use the upstream tag v$TORCHSPARSE_VERSION"
    say "building torchsparse $TORCHSPARSE_VERSION against torch $TORCH_VER (about 4 minutes on 2 cores; done once per machine)"
    (cd "$build_dir/src" && "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$cache" .) \
        || fail "building torchsparse $TORCHSPARSE_VERSION failed (log above)" \
                "make sure g++ and the sparsehash headers are installed; on GPU machines check that nvcc matches torch.version.cuda"
    rm -rf "$build_dir"
}

if [ -n "$TORCHSPARSE_SRC" ]; then
    if "$VENV/bin/python" -c "import torchsparse, sys; sys.exit(torchsparse.__version__ != '$TORCHSPARSE_VERSION')" 2>/dev/null; then
        say "torchsparse $TORCHSPARSE_VERSION already installed"
    else
        install_cached_wheel torchsparse "$TORCHSPARSE_VERSION" build_torchsparse
    fi
    "$VENV/bin/python" -c "import torchsparse.backend" \
        || fail "torchsparse does not import" "delete $WHEEL_CACHE/torchsparse-* and rerun to rebuild it"
elif "$VENV/bin/python" -c "import torchsparse" 2>/dev/null; then
    say "torchsparse is installed in $VENV (ELITE_TORCHSPARSE unset): keeping it"
fi

say "checking imports"
import_check || fail "some packages do not import (listed above)" "rerun tools/setup_env.sh; if it persists, delete .venv/ and rerun"
rm -f "$VENV"/.elite-setup-*
touch "$STAMP"
say "done: $VENV (torch $TORCH_VER)"
