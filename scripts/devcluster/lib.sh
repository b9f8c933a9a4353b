# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are read by the scripts that source this
# Shared settings of the dev cluster's scripts (up, down, status). Sourced, not run.
# Every setting can be overridden from the environment; the state folder holds all the
# cluster's files, its logs and the PIDs of the daemons that `up` started.

GF_STATE=${GPUFLEET_DEVCLUSTER_STATE:-/tmp/gpufleet-devcluster}
GF_CLUSTER=${GPUFLEET_DEVCLUSTER_NAME:-gfdev}
GF_CTLD_PORT=${GPUFLEET_DEVCLUSTER_CTLD_PORT:-16817}
GF_DBD_PORT=${GPUFLEET_DEVCLUSTER_DBD_PORT:-16819}
GF_SLURMD_PORT0=${GPUFLEET_DEVCLUSTER_SLURMD_PORT:-16820} # node i listens on PORT0 + i
GF_DB_PORT=${GPUFLEET_DEVCLUSTER_DB_PORT:-13306}
GF_PROM_PORT=${GPUFLEET_DEVCLUSTER_PROM_PORT:-19090}
GF_EXPORTER_PORT=${GPUFLEET_DEVCLUSTER_EXPORTER_PORT:-19400}
GF_DB_PASS=gfdev-slurm # MariaDB on 127.0.0.1 only, private datadir: a test password
GF_MUNGE_SOCKET=/run/munge/munge.socket.2 # 22.05's dbd link ignores AuthInfo=socket=

# The nodes: "name gres_type gpus partition [slurmd|none]". Each has its own slurmd on
# this host, unless its fifth word is "none": such a node is only declared in slurm.conf
# (State=DOWN, no devices, no slurmd), so that Slurm lists far more nodes than this
# machine can run slurmd for (bench/observe_bench.py). GPUFLEET_DEVCLUSTER_NODES names a
# file of such lines ("#" comments and blank lines skipped) that replaces the three below.
GF_NODES=(
    "gf-h100-1 h100 8 h100"
    "gf-h100-2 h100 8 h100"
    "gf-a100-1 a100 4 a100"
)
if [ -n "${GPUFLEET_DEVCLUSTER_NODES:-}" ]; then
    if [ ! -r "$GPUFLEET_DEVCLUSTER_NODES" ]; then
        echo "devcluster: GPUFLEET_DEVCLUSTER_NODES=$GPUFLEET_DEVCLUSTER_NODES: not a" \
            "readable file (expected lines 'name gres_type gpus partition [slurmd|none]')" >&2
        exit 2
    fi
    mapfile -t GF_NODES < <(grep -Ev '^[[:space:]]*(#|$)' "$GPUFLEET_DEVCLUSTER_NODES")
    if [ "${#GF_NODES[@]}" -eq 0 ]; then
        echo "devcluster: no node lines in $GPUFLEET_DEVCLUSTER_NODES" \
            "(expected 'name gres_type gpus partition [slurmd|none]')" >&2
        exit 2
    fi
fi
# Prometheus's scrape interval: 1s by default, so that tests see
# a job's GPUs within seconds; a cluster of 10,000 GPUs scrapes less often
GF_SCRAPE_INTERVAL=${GPUFLEET_DEVCLUSTER_SCRAPE_INTERVAL:-1s}
# "own": start munged on the default socket (refusing one not started by us); "shared":
# use the munged already serving it when there is one (a second instance beside the
# running dev cluster: Slurm 22.05 reaches slurmdbd only through the default socket)
GF_MUNGE=${GPUFLEET_DEVCLUSTER_MUNGE:-own}

# gf_has_slurmd SPEC: true when the node line SPEC runs its own slurmd
gf_has_slurmd() {
    local _name _type _count _part run
    read -r _name _type _count _part run <<<"$1"
    [ "${run:-slurmd}" != none ]
}

# What `up` installs with apt-get when missing (curl: its readiness checks).
GF_PACKAGES=(slurm-wlm slurmdbd slurmrestd munge mariadb-server prometheus curl)

export SLURM_CONF="$GF_STATE/etc/slurm.conf"

gf_t0=${EPOCHREALTIME}
gf_log() { printf '[%6.2fs] %s\n' "$(gf_elapsed)" "$*"; }
gf_elapsed() { awk -v a="$EPOCHREALTIME" -v b="$gf_t0" 'BEGIN{printf "%.2f", a-b}'; }

# The pids file has one line per daemon: NAME PID STARTTIME, where STARTTIME is the
# process's start time in clock ticks since boot (/proc/PID/stat, field 22). A PID is only
# ever signalled while its start time still matches: a PID the kernel has reused for
# another program after a crash is left alone.

# gf_starttime PID: the start time of PID, empty when it does not run (or is a zombie
# its new parent has not reaped yet: PID 1 here is not an init that reaps at once)
gf_starttime() {
    [ -r "/proc/$1/stat" ] || return 0
    # the command name (field 2) may hold spaces: cut after its closing parenthesis
    sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '$1 != "Z" {print $20}'
}

# gf_pid NAME: the PID recorded for NAME, empty when none
gf_pid() { [ -f "$GF_STATE/pids" ] && awk -v n="$1" '$1==n {p=$2} END{print p}' "$GF_STATE/pids"; }

# gf_same PID STARTTIME: true when PID runs and is still the process that was recorded
gf_same() {
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$(gf_starttime "$1")" = "$2" ]
}

# gf_alive NAME: true when NAME was started by `up` and that very process still runs
gf_alive() {
    local line
    line=$([ -f "$GF_STATE/pids" ] && awk -v n="$1" '$1==n {l=$2" "$3} END{print l}' "$GF_STATE/pids")
    # shellcheck disable=SC2086
    gf_same $line
}
