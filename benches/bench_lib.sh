# Shared helpers of the load scripts (load.sh, realtime.sh, ingest.sh, chat_stream.sh); sourced, not run.
# Expects OUT_DIR (for log.txt), WORK (scratch dir), NOISY_LOAD and SETTLE_MAX to be set.

# Append a line to $OUT_DIR/log.txt and stderr.
log() { printf '%s\n' "$*" | tee -a "$OUT_DIR/log.txt" >&2; }

# Stop processes: TERM, up to 5 s each to exit, then KILL. Never fails.
stop_pids() {
  local pid
  for pid in "$@"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# Install Debian packages that are missing (apt-get update only if the first try fails).
ensure_packages() {
  (($#)) || return 0
  log "installing: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "$@" >"$WORK/apt.log" 2>&1 ||
    { apt-get update >>"$WORK/apt.log" 2>&1 && apt-get install -y "$@" >>"$WORK/apt.log" 2>&1; } ||
    { cat "$WORK/apt.log" >&2; exit 1; }
  # Debian's postinst may start the packaged nginx on port 80 where services run; we never use it.
}

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Bounded wait (SETTLE_MAX s) for the 1-min loadavg to fall to NOISY_LOAD.
settle() {
  local waited=0
  while ((waited < SETTLE_MAX)) && python3 -c "import sys; sys.exit(0 if float(open('/proc/loadavg').read().split()[0]) > $NOISY_LOAD else 1)"; do
    sleep 1
    waited=$((waited + 1))
  done
  ((waited == 0)) || log "  (waited ${waited}s for loadavg; now $(cut -d' ' -f1 /proc/loadavg))"
}

# The machine lines every run's machine.txt starts with (date, cores, CPU model, kernel).
machine_lines() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel: $(uname -r)"
}

# The build measured: the commit, "+dirty" when src/ has uncommitted changes. Needs $ROOT.
talon_rev_line() {
  echo "talon: git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)$(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty')"
}
