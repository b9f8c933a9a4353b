"""Enacting the register on a scheduler (issue 13, items 1-2): the desired state at an
instant (:mod:`.desired`), its diff with what the cluster holds (:mod:`.diff`), and the
apply that executes the diff under a lock, journalled in the audit log (:mod:`.journal`,
:mod:`.slurm_apply`). See docs/enact.md."""
