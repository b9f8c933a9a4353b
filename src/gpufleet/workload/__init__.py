"""Workloads: synthetic generators and job lists, as streams of JobDraft in submit order."""
