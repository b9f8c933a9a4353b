"""Importers for what users already have: Slurm ``sacct`` exports, Kubernetes pod lists and
Kueue Workloads (JSON), and any CSV with a column map. Each reads one file into the normalized
:class:`~gpufleet.inputs.traces.workload.Workload`; :func:`gpufleet.inputs.traces.detect.load_file`
picks
the importer from the file's content. How to export each format: ``docs/importing.md``.

Modules::

    common       the bad-value exception, UTC times, the row buffer, the finished workload
    gpu_names    "h100", "NVIDIA-A100-SXM4-80GB" ... -> the catalog's GPU type names
    sacct        sacct --parsable2 --allocations output
    kubernetes   kubectl get pods -A -o json (and Kueue Workloads in the same List)
    kueue        one Kueue Workload object -> one job
    k8s_resources  Kubernetes quantities, container resources, GPU node selectors
    columnmap    the FIELD=COLUMN,... map and the time formats of a plain CSV
    csvmap       a plain CSV read through a column map
"""
