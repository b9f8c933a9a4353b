"""The live fleet: gpufleet reading real clusters (read-only), keeping what it sees, and
forecasting from now.

Each external system sits behind one small seam, and the package ships the fake that its
own tests use (as httpx ships ``MockTransport``):

- :mod:`gpufleet.live.runner`: run a command, get its stdout. ``SubprocessRunner`` runs it
  for real; ``ReplayRunner`` replays outputs recorded from a real cluster;
  ``RecordingRunner`` records them.
- :mod:`gpufleet.live.slurm`: Slurm read through its commands (``squeue/sinfo/sacct
  --json``, ``sacctmgr -P``, ``sshare -P``, ``scontrol show config``) or through
  slurmrestd on its UNIX socket, parsed into frozen dataclasses.
- :mod:`gpufleet.live.prometheus`: Prometheus's query API (behind ``HttpTransport``) and
  the DCGM exporter's per-GPU utilisation, framebuffer and power.
- :mod:`gpufleet.live.kubernetes`: nodes, pods and Kueue's queues and workloads through
  ``kubectl -o json`` (tested on hand-written snapshots: no API server runs here).
- :mod:`gpufleet.live.mapping`: the file that maps a cluster's names onto the register's.
- :mod:`gpufleet.live.observe`: one :class:`~gpufleet.live.observation.Observation` from
  the sources' outputs, the mapping and the registered counts (pure functions).
- :mod:`gpufleet.live.config`, :mod:`gpufleet.live.cycle`: the sources configured in one
  file, and one observation cycle (the CLI's ``observe`` and the server's poller).
- :mod:`gpufleet.live.store`, :mod:`gpufleet.live.retention`: observations kept in the
  register, downsampled as they age.
- :mod:`gpufleet.live.findings`, :mod:`gpufleet.live.status`: stranded and idle GPU-days
  with their cost, drift against the plan, lease suggestions; the fleet at a glance.
- :mod:`gpufleet.live.forecast`: the engine's second host: the engine started from a
  cluster's observed state at the wall clock's now (:mod:`gpufleet.live.clock`), run
  forward in simulated time with the policy that matches the cluster.

Every malformed or unexpected output raises :class:`gpufleet.live.errors.SourceError`
(an ``InputError``: CLI exit 2, HTTP 422) naming the source, the field and what was
expected; an unreachable source raises ``SourceUnavailableError``.

The sources and the observation import nothing of gpufleet but ``errors`` and ``domain``;
the store, findings and forecast stand on the rings inside ``live`` (the layer test's map).
"""
