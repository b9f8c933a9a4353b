"""Inputs: scenario files, real traces and workloads, validated into domain objects."""
