"""Labs: reproductions of published schedulers, each with a simulator of its own, checked
against the paper's or the artifact's own figures and run from ``bench/``.

* :mod:`.gavel` -- Gavel's heterogeneity-aware max-min fairness (Narayanan et al., OSDI
  '20): an LP over GPU types in a fluid simulator, on Gavel's own workload.
* :mod:`.fgd` -- FGD's fragmentation-aware packing of GPU-sharing pods (Weng et al., ATC
  '23): milli-GPU placement on the openb trace.

Why they stand apart from ``engine``/``sim``: each reproduction measures what its paper
measured, in the paper's model (time fractions of GPU types re-solved at every event; pods
packed in order on milli-GPU slots, none departing), which the engine's whole-GPU jobs and
scheduling cycles do not express; a lab's figures must come out as the paper's, not as the
engine's. So a lab reads domain objects and traces (:mod:`gpufleet.domain`,
:mod:`gpufleet.inputs`) and nothing else of ours, and nothing but ``bench/``, its tests and
the CLI's policy listing reads a lab. What the labs share is in :mod:`.common`.
"""
