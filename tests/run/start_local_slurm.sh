#!/usr/bin/env bash
# Start a single-node Slurm (Debian slurm-wlm + munge) on this machine, as root.
# Idempotent: does nothing when sinfo already answers with this machine's CPU count.  Used by the
# Slurm test.
set -euo pipefail
# nproc obeys OMP_NUM_THREADS (the test suite sets it to 1): count the machine's CPUs without it
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
if sinfo -h >/dev/null 2>&1 && [ -n "$(sinfo -h -o %t 2>/dev/null | grep -E 'idle|mix|alloc' || true)" ]; then
  [ "$(sinfo -h -o %c 2>/dev/null | head -n 1)" = "$cpus" ] && exit 0
  # a node registered with another CPU count (an older start): restart with the right one
  scontrol shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 1; done
fi
[ "$(id -u)" = 0 ] || { echo "start_local_slurm: needs root" >&2; exit 1; }
command -v slurmctld >/dev/null || { echo "start_local_slurm: slurm-wlm is not installed" >&2; exit 1; }
host=$(hostname)
mem=$(awk '/MemTotal/ {print int($2/1024) - 1024}' /proc/meminfo)
# munge: a key, then the daemon as the munge user
mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
chmod 700 /etc/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge; chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localhost
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %t 2>/dev/null | grep -qE 'idle|mix|alloc'; then exit 0; fi
  sleep 1
done
echo "start_local_slurm: slurm did not come up (see /var/log/slurm)" >&2
exit 1
