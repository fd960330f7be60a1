# bench/lib.sh — what the bench scripts share: argument checks, finding or building the
# cairn binary, installing the Redis tools, free ports, starting servers, running a load
# command under a time limit, and stopping processes.
# Sourced by the scripts (not run): `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.
# shellcheck shell=bash

die() { echo "error: $*" >&2; exit 1; }

# require_positive VAR...: every named variable holds a positive integer.
require_positive() {
    local var
    for var in "$@"; do
        [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer (got '${!var}')"
    done
}

# Resolves a user-supplied CAIRN_BIN to an absolute path, before the script changes
# directory, so relative paths work from the caller's directory.
resolve_cairn_bin() {
    [[ -n "${CAIRN_BIN:-}" ]] || return 0
    if [[ "$CAIRN_BIN" == */* ]]; then
        [[ -e "$CAIRN_BIN" ]] || die "CAIRN_BIN=$CAIRN_BIN does not exist"
        CAIRN_BIN="$(realpath -- "$CAIRN_BIN")"
    else
        CAIRN_BIN="$(command -v -- "$CAIRN_BIN")" || die "CAIRN_BIN=$CAIRN_BIN not found in PATH"
    fi
}

# Installs redis-server and redis-tools with apt-get if any of the three commands is missing.
ensure_redis_tools() {
    if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null \
        || ! command -v redis-cli >/dev/null; then
        echo "==> redis-server / redis-benchmark not found; installing with apt-get"
        [[ $EUID -eq 0 ]] || die "not root: install redis-server and redis-tools yourself"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools
    fi
}

# Builds the release binary unless CAIRN_BIN names one; run from the repository root.
build_cairn() {
    if [[ -z "${CAIRN_BIN:-}" ]]; then
        echo "==> cargo build --release -p cairn"
        cargo build --release -p cairn
        CAIRN_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/cairn"
    fi
    [[ -x "$CAIRN_BIN" ]] || die "cairn binary not executable: $CAIRN_BIN"
}

# True if the process exists and is not a zombie.
is_running() {
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z* ]]
}

# stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL; nothing for an empty PID.
stop_pid() {
    local pid="$1" i
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        is_running "$pid" || break
        sleep 0.1
    done
    if is_running "$pid"; then
        echo "warning: pid $pid ignored SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# show_logs FILE...: the last lines of each server log, for a run that failed.
show_logs() {
    local log
    for log in "$@"; do
        [[ -e "$log" ]] || continue
        echo "---- last lines of $(basename "$log") ----" >&2
        if [[ -s "$log" ]]; then tail -n 20 "$log" >&2; else echo "(empty)" >&2; fi
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The scripts that start several servers keep them in associative arrays PORT, PID and
# CMDLINE by instance name, with logs in $WORK/<name>.log, and define
# `server_argv NAME` (the command line, one word per line, using ${PORT[NAME]}). PORT is
# the port the readiness check uses; a server that needs more ports keeps them in arrays
# of its own, chosen by the script's own pick_ports.

wait_for_ping() {   # wait_for_ping NAME: up to 20 s for PONG; 1 if the server exited
    local name="$1" deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        is_running "${PID[$name]}" || return 1
        [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null)" == "PONG" ]] && return 0
        sleep 0.1
    done
    die "$name did not answer PING on port ${PORT[$name]} within 20 s"
}

# pick_ports INSTANCE: sets PORT[INSTANCE] to a free port before each start attempt; a
# script whose servers need more ports defines its own after sourcing this file.
pick_ports() { PORT[$1]="$(free_port)" || die "could not pick a free port"; }

# start_instance INSTANCE [READY WHAT]: start it on ports from pick_ports and wait until
# `READY INSTANCE` succeeds (default wait_for_ping; WHAT, default PING, names the reply in
# messages). READY returns 1 if the server exited. The ports are free when chosen but
# another process may take one before the server binds it (test suites use ephemeral
# ports too), so "address in use" gets new ports.
# shellcheck disable=SC2004 # PID and CMDLINE are the scripts' associative arrays
start_instance() {
    local inst="$1" ready="${2:-wait_for_ping}" what="${3:-PING}" attempt
    local -a argv
    for ((attempt = 1; attempt <= 5; attempt++)); do
        pick_ports "$inst"
        mapfile -t argv < <(server_argv "$inst")
        (cd "$WORK" && exec "${argv[@]}") >"$WORK/$inst.log" 2>&1 &
        PID[$inst]=$!
        # Shown with "" for empty words, so the line can be pasted back.
        CMDLINE[$inst]="$(for w in "${argv[@]}"; do [[ -n $w ]] && printf '%s ' "$w" || printf '"" '; done)"
        "$ready" "$inst" && return 0
        wait "${PID[$inst]}" 2>/dev/null || true
        PID[$inst]=""
        grep -qi 'address already in use' "$WORK/$inst.log" \
            || die "$inst exited before answering $what on port ${PORT[$inst]} (command: ${CMDLINE[$inst]})"
        echo "note: a port was taken before $inst bound it; trying others" >&2
    done
    die "$inst: no free ports after 5 attempts"
}

# run_bounded OUT ERR CMD...: runs CMD under `timeout $BENCH_TIMEOUT`, stdout to OUT and
# stderr to ERR, in the background as BENCH_PID (so INT/TERM reach the trap at once, and
# its EXIT handler can stop it); on failure prints the command and both outputs and
# returns CMD's exit status (124: timed out), for the caller to add its checks and die.
run_bounded() {
    local out="$1" err="$2" rc=0
    shift 2
    timeout "$BENCH_TIMEOUT" "$@" >"$out" 2>"$err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    if [[ $rc -ne 0 ]]; then
        [[ $rc -eq 124 ]] && echo "$(basename -- "$1") timed out after ${BENCH_TIMEOUT}s" >&2
        echo "command: $*" >&2
        echo "stdout:" >&2; cat "$out" >&2
        echo "stderr:" >&2; cat "$err" >&2
    fi
    return "$rc"
}

# install_cleanup: from now on, leaving the script (normally, on failure, Ctrl-C or
# SIGTERM) stops $BENCH_PID, every server in INSTANCES (PID[...]) and the pids named by
# the variables listed in CLEANUP_PID_VARS, shows the server logs if the script failed
# (unless CHECK_FAILED=1 says a check failed and already explained why), and removes
# $WORK.
install_cleanup() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT    # these run the EXIT trap
    trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
    local rc=$? inst var
    trap - EXIT INT TERM
    set +e
    stop_pid "${BENCH_PID:-}"
    for var in ${CLEANUP_PID_VARS:-}; do stop_pid "${!var:-}"; done
    for inst in "${INSTANCES[@]}"; do stop_pid "${PID[$inst]:-}"; done
    if [[ $rc -ne 0 && $rc -ne 130 && $rc -ne 143 && ${CHECK_FAILED:-0} -eq 0 ]]; then
        for inst in "${INSTANCES[@]}"; do show_logs "$WORK/$inst.log"; done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
