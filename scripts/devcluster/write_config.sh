# shellcheck shell=bash
# The dev cluster's configuration files, written fresh at each `up` (sourced by up).

# write_configs HOST: slurm.conf, slurmdbd.conf, gres.conf (with the fake devices) and
# prometheus.yml under $GF_STATE/etc
write_configs() {
    local host=$1 spec name type count part run i port nodelines="" gresl="" partitions=""
    declare -A part_nodes=()
    i=0
    for spec in "${GF_NODES[@]}"; do
        read -r name type count part run <<<"$spec"
        if ! [[ "$count" =~ ^[1-9][0-9]*$ && -n "$part" && "${run:-slurmd}" =~ ^(slurmd|none)$ ]]; then
            echo "devcluster: node line '$spec': expected 'name gres_type gpus partition" \
                "[slurmd|none]' with gpus a whole number >= 1" >&2
            exit 2
        fi
        port=$((GF_SLURMD_PORT0 + i))
        nodelines+="NodeName=$name NodeAddr=127.0.0.1 NodeHostname=$host Port=$port"
        if [ "${run:-slurmd}" = none ]; then
            # declared only: no slurmd will register it, so it is DOWN from the start
            nodelines+=" CPUs=16 RealMemory=64000 Gres=gpu:$type:$count State=DOWN"
            nodelines+=' Reason="declared only, no slurmd"'$'\n'
            part_nodes[$part]+="${part_nodes[$part]:+,}$name"
            i=$((i + 1))
            continue
        fi
        nodelines+=" CPUs=16 RealMemory=64000 Gres=gpu:$type:$count State=UNKNOWN"$'\n'
        # Fake NVIDIA character devices (major 195): 22.05 drops a GPU line without File=
        mkdir -p "$GF_STATE/dev/$name"
        local g
        for g in $(seq 0 $((count - 1))); do
            [ -e "$GF_STATE/dev/$name/nvidia$g" ] && continue
            # a container without CAP_MKNOD: a plain file works too (slurmd logs that it
            # is "not a valid character or block device" and goes on)
            mknod -m 666 "$GF_STATE/dev/$name/nvidia$g" c 195 "$g" 2>/dev/null ||
                touch "$GF_STATE/dev/$name/nvidia$g"
        done
        gresl+="NodeName=$name Name=gpu Type=$type File=$GF_STATE/dev/$name/nvidia[0-$((count - 1))]"$'\n'
        part_nodes[$part]+="${part_nodes[$part]:+,}$name"
        i=$((i + 1))
    done
    for part in "${!part_nodes[@]}"; do
        partitions+="PartitionName=$part Nodes=${part_nodes[$part]} MaxTime=1-00:00:00"
        partitions+=" DefaultTime=00:10:00 State=UP TRESBillingWeights=CPU=1.0,GRES/gpu=10.0"
        [ "$part" = h100 ] && partitions+=" Default=YES"
        partitions+=$'\n'
    done

    cat >"$GF_STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$GF_DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$GF_STATE/log/slurmdbd.log
PidFile=$GF_STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$GF_DB_PORT
StorageUser=slurm
StoragePass=$GF_DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$GF_STATE/etc/slurmdbd.conf"
    mkdir -p "$GF_STATE/run" "$GF_STATE/ctld" "$GF_STATE/spool"

    cat >"$GF_STATE/etc/slurm.conf" <<EOF
# gpufleet dev cluster (scripts/devcluster/up writes this file at each start)
ClusterName=$GF_CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$GF_CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$GF_STATE/ctld
SlurmdSpoolDir=$GF_STATE/spool/%n
SlurmctldPidFile=$GF_STATE/run/slurmctld.pid
SlurmdPidFile=$GF_STATE/run/slurmd-%n.pid
SlurmctldLogFile=$GF_STATE/log/slurmctld.log
SlurmdLogFile=$GF_STATE/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
MailProg=/bin/true
# 1, not 2: with 2 a node an operator set DOWN ("no power") comes back by itself at
# its slurmd's next registration
ReturnToService=1
# more CPUs and GPUs declared than this machine has
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# scheduling: backfill with short intervals so tests see decisions within seconds
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5,bf_max_job_test=500,bf_continue
# priority: multifactor with fair-share; the weights the forecast reads back
PriorityType=priority/multifactor
PriorityWeightFairshare=10000
PriorityWeightAge=1000
PriorityWeightQOS=1000
PriorityWeightJobSize=0
PriorityWeightPartition=0
PriorityDecayHalfLife=1-00:00:00
PriorityCalcPeriod=1
PriorityMaxAge=1-00:00:00
# accounting, with GPU quotas enforced per association
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$GF_DBD_PORT
AccountingStorageTRES=gres/gpu,gres/gpu:h100,gres/gpu:a100
AccountingStorageEnforce=associations,limits,qos
JobCompType=jobcomp/none
MinJobAge=300
${nodelines}${partitions}
EOF

    { echo "AutoDetect=off"; printf '%s' "$gresl"; } >"$GF_STATE/etc/gres.conf"

    cat >"$GF_STATE/etc/prometheus.yml" <<EOF
global:
  scrape_interval: $GF_SCRAPE_INTERVAL
  evaluation_interval: 5s
scrape_configs:
  - job_name: dcgm
    static_configs:
      - targets: ['127.0.0.1:$GF_EXPORTER_PORT']
EOF
}
