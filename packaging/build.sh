#!/usr/bin/env bash
# Build the Linux one-folder app into dist/hearth/ from build_linux.spec (the Analysis shared with the macOS and
# Windows specs). Without --train the training stack (torch, transformers, peft, ...) is left out: a smaller,
# faster build that chats and serves; with --train the frozen app can train too.
# Usage: packaging/build.sh [--train]    (PYTHON=path/to/python to use another environment than .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
SPEC_ARGS=(-- --no-train)
if [[ "${1:-}" == "--train" ]]; then SPEC_ARGS=(); fi

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet -e ".[package]"  # the [package] extra: PyInstaller (editable, as installed)
fi

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
    build_linux.spec "${SPEC_ARGS[@]}"
echo "built dist/hearth in $(( $(date +%s) - start )) s"
du -sh dist/hearth
echo "the 10 biggest items:"
du -s dist/hearth/_internal/* dist/hearth/_internal/*/* 2>/dev/null | sort -rn | head -10 \
    | awk '{ printf "%8.1f MB  %s\n", $1 / 1024, $2 }' || true  # head closes the pipe early: not a failure
