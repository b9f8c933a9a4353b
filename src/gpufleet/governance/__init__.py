"""Governed transfers of GPUs between entities: the rules of who approves
(:mod:`.transfers.rules`, pure), the lifecycle with its audited steps
(:mod:`.transfers.lifecycle`), the assessment of a candidate by the what-if planner
(:mod:`.transfers.assess`) and the background runs that compute assessments and what-ifs
(:mod:`.runs`).

Lifecycle::

    requested --queue_assessment/record_assessment--> assessed
    requested | assessed --approve (enough eligible approvals)--> approved
    requested | assessed --reject (one eligible rejection)------> rejected
    approved --activate--> active --end--> ended
    approved | active --revoke--> revoked

Approved, active and ended transfers are part of the plan
(:mod:`gpufleet.governance.register.plan`).
"""
