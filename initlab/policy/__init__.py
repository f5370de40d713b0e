"""Initialize a whole model in one call: rules, presets, plans, apply, materialize, sharding.

``initlab.plan(model, policy)`` turns a model plus a policy into a :class:`Plan` (one row
per parameter, with the reason for each choice); ``initlab.apply`` executes it through the
keyed random streams; ``initlab.materialize`` does it for meta-device (and sharded) models.
"""

from initlab.policy.apply import apply
from initlab.policy.audit import AuditReport, audit
from initlab.policy.materialize import materialize
from initlab.policy.meta_build import build_meta
from initlab.policy.plan import plan
from initlab.policy.plan_rows import Plan, PlanRow
from initlab.policy.presets import get_policy, policies, register_policy, resolve
from initlab.policy.rules import Policy, Rule

__all__ = ["apply", "audit", "AuditReport", "build_meta", "materialize", "plan", "Plan", "PlanRow", "Policy", "Rule",
           "register_policy", "policies", "get_policy", "resolve"]
