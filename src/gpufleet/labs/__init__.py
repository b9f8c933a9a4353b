"""Reproductions with simulators of their own, run from bench/: Gavel's heterogeneity-aware LP
(gavel) and FGD's fractional-GPU packing (fgd)."""
