"""Metering and intercompany statements (issue 13, items 6-7; docs/metering.md):
GPU-seconds per program and owner's pool per period from Slurm's accounting (``sacct``'s
AllocTRES, clipped to the period) and busy GPU-seconds from DCGM (the stored live
samples), kept in the register; and the statement between two entities priced at the
transfer's agreed price, at cost-plus and at a market rate, committed to the audit chain."""
