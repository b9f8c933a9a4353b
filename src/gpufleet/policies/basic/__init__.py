"""The basic policies: FIFO (strict and backfill), weighted DRF, priority preemption, quota
borrowing and topology-aware FIFO."""
