"""Kueue's admission semantics: ClusterQueues, cohorts (flat and hierarchical), preemption and fair
sharing."""
