"""NVIDIA KAI Scheduler's semantics: hierarchical queues, fair share and reclaim."""
