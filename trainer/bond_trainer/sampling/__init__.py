"""Sampling: sequences under the sampling transform (drawing, scoring, the batch layout) and the
engines that decode them (eager, static KV cache with CUDA graphs)."""
