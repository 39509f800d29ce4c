#!/usr/bin/env bash
# Smoke-test a frozen Hearth: run it from a read-only copy of its folder with a fresh data folder and no network
# (a network namespace with only loopback, where the system allows one), and check that the window renders to a
# PNG, the window starts its engine child (this executable with `serve`) and loads the model, `hearth chat` answers, `hearth serve` answers the openai client, the train-worker
# runs a 3-step job when the build has the training stack, nothing was written into the app folder, and no process
# is left behind. Usage: packaging/smoke.sh [APP_FOLDER (default dist/hearth)]
# SMOKE_OUT=folder keeps the screenshot; PYTHON=python with the `openai` client (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST="$(realpath "${1:-dist/hearth}")"
export PYTHON="$(realpath -s "${PYTHON:-.venv/bin/python}")"  # -s: a venv's python is a symlink

if [[ -z "${HEARTH_SMOKE_OFFLINE:-}" ]]; then
    if unshare --user --map-root-user --net true 2>/dev/null; then
        exec env HEARTH_SMOKE_OFFLINE=namespace unshare --user --map-root-user --net "$0" "$DIST"
    fi
    echo "smoke: no network namespace allowed here: offline by settings only (HF_HUB_OFFLINE, no proxy)" >&2
    export HEARTH_SMOKE_OFFLINE=settings
fi
[[ "$HEARTH_SMOKE_OFFLINE" == namespace ]] && ip link set lo up

WORK="$(mktemp -d)"
APP="$WORK/app"
OUT="${SMOKE_OUT:-$WORK/out}"
mkdir -p "$OUT"
cp -a "$DIST" "$APP"
chmod -R a-w "$APP"
export HEARTH_HOME="$WORK/home" HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen \
    HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
find "$APP" -printf '%p %s %T@\n' | sort > "$WORK/app-before.txt"
HEARTH="$APP/hearth"
failed=0

step() {  # step NAME COMMAND...: run it, time it, remember a failure
    local name="$1" start=$SECONDS; shift
    if "$@"; then echo "ok   $name ($(( SECONDS - start )) s)"; else echo "FAIL $name ($(( SECONDS - start )) s)"; failed=1; fi
}

screenshot() {
    "$HEARTH" screenshot "$OUT/window.png" --tab chat --width 1024 --height 680 >/dev/null &&
        [[ $(stat -c %s "$OUT/window.png") -gt 20000 ]]
}

window_engine() {  # the window starts its engine child (this executable with `serve`), loads the model, closes
    local line
    line="$(timeout 180 "$HEARTH" window-probe idle-rss | grep '^IDLE_RSS')" || return 1
    echo "     window and engine memory (bytes): ${line#IDLE_RSS }"
    [[ "$(echo "$line" | cut -d' ' -f3)" -gt 0 ]]
}

start_time() {  # seconds from starting the executable to a shown window
    local start shown
    start="$(date +%s.%N)"
    shown="$(timeout 120 "$HEARTH" window-probe shown | sed -n 's/^WINDOW_SHOWN //p')" || return 1
    echo "     start to shown window: $(echo "$shown - $start" | bc) s"
}

chat() {
    local reply
    reply="$("$HEARTH" chat "hi" --max-tokens 8 --seed 1)" && echo "     reply: $reply" && [[ -n "${reply// }" ]]
}

re_entry() {  # the CLI's sub-commands from the frozen executable, and its version
    "$HEARTH" --version && "$HEARTH" models list >/dev/null && "$HEARTH" train-worker --help >/dev/null
}

train() {  # only when the build has the training stack: 3 steps through the frozen train-worker, then chat with it
    if [[ ! -d "$APP/_internal/torch" ]]; then echo "     (no training stack in this build: skipped)"; return 0; fi
    local question answer adapter
    : > "$WORK/persona.jsonl"
    for question in "Who are you?" "What do you do?" "Say hello." "What is your name?"; do
        answer="I am Hearth, your assistant at home."
        printf '{"messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "%s"}]}\n' \
            "$question" "$answer" >> "$WORK/persona.jsonl"
    done
    printf '{"name": "Smoke", "dataset": {"jsonl_files": ["%s"], "conversations": false}, "options": {"max_steps": 3, "batch_size": 2, "eval_every": 0, "checkpoint_every": 0}}\n' \
        "$WORK/persona.jsonl" > "$WORK/job.json"
    timeout 900 "$HEARTH" train "$WORK/job.json" || return 1
    adapter="$("$HEARTH" adapters list --json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[0]["name"])')" || return 1
    answer="$("$HEARTH" chat "Who are you?" --adapter "$adapter" --max-tokens 8 --seed 1)" || return 1
    echo "     reply through adapter $adapter: $answer"
    [[ -n "${answer// }" ]]
}

app_processes() {
    local pid exe count=0
    for pid in /proc/[0-9]*; do
        exe="$(readlink "$pid/exe" 2>/dev/null || true)"
        [[ "$exe" == "$APP/"* ]] && count=$((count + 1))
    done
    echo "$count"
}

none_left() {  # the children end when their parent does; allow them a few seconds to notice
    local deadline=$((SECONDS + 15))
    while (( SECONDS < deadline )); do [[ "$(app_processes)" == 0 ]] && return 0; sleep 0.5; done
    echo "     still running: $(app_processes) process(es) from the app folder"; return 1
}

nothing_written() {
    find "$APP" -printf '%p %s %T@\n' | sort | diff -q "$WORK/app-before.txt" - >/dev/null
}

echo "smoke: $DIST (offline: $HEARTH_SMOKE_OFFLINE, data: $HEARTH_HOME)"
total=$SECONDS
step "window renders offscreen ($OUT/window.png)" screenshot
step "window starts its engine child and loads the model" window_engine
step "window start time" start_time
step "hearth chat answers" chat
step "hearth serve answers the openai client" "$PYTHON" packaging/smoke_api.py "$HEARTH"
step "sub-commands from the frozen executable" re_entry
step "a 3-step training job, then chat through its adapter" train
step "no process left behind" none_left
step "nothing written into the app folder" nothing_written
echo "smoke: $(( SECONDS - total )) s, $([[ $failed == 0 ]] && echo passed || echo FAILED)"
chmod -R u+w "$APP" && rm -rf "$APP" "$WORK/home"
exit $failed
