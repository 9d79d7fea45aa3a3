#!/usr/bin/env bash
# Create (or reuse) the Open WebUI 0.12.4 virtualenv used by the end-to-end suite (`make e2e`).
#
# The venv lives OUTSIDE the repo (it is ~2.9 GB): ${OWUI_VENV:-$HOME/.cache/pipe-service/owui-0.12.4}.
# torch is installed first, pinned, so pip takes the CPU wheel from the machine's local wheel cache
# instead of resolving a CUDA build. A stamp file makes repeated runs a no-op; delete it (or the
# venv) to reinstall. Prints the venv path on the last line of stdout.
set -euo pipefail

OWUI_VERSION="${OWUI_VERSION:-0.12.4}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
OWUI_VENV="${OWUI_VENV:-$HOME/.cache/pipe-service/owui-$OWUI_VERSION}"
STAMP="$OWUI_VENV/.pipe-service-owui-$OWUI_VERSION"

if [ -f "$STAMP" ] && [ -x "$OWUI_VENV/bin/open-webui" ]; then
    echo "$OWUI_VENV"
    exit 0
fi

# open-webui 0.12.4 needs Python >=3.11,<3.13.
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3.12 || command -v python3)}"
"$PYTHON" - <<'PY'
import sys
if not ((3, 11) <= sys.version_info[:2] < (3, 13)):
    sys.exit(f"open-webui needs Python 3.11 or 3.12, found {sys.version.split()[0]}")
PY

start=$(date +%s)
mkdir -p "$(dirname "$OWUI_VENV")"
test -x "$OWUI_VENV/bin/python" || "$PYTHON" -m venv "$OWUI_VENV"
PIP=("$OWUI_VENV/bin/python" -m pip install --quiet)
"${PIP[@]}" "torch==$TORCH_VERSION"
"${PIP[@]}" "open-webui==$OWUI_VERSION"
"$OWUI_VENV/bin/python" -c 'import aiohttp' 2>/dev/null || "${PIP[@]}" aiohttp
"$OWUI_VENV/bin/python" -c 'import socketio' # the e2e socket.io client runs in this venv
touch "$STAMP"
echo "owui venv ready in $(( $(date +%s) - start )) s" >&2
echo "$OWUI_VENV"
