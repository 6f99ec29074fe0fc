"""Budgets and headroom as `GET /v1/gateway/budgets` and the dashboard show them."""

from __future__ import annotations

from typing import Any

from gateway.auth import Identity
from gateway.budgets.estimate import usd
from gateway.budgets.limiter import Limiter
from gateway.budgets.terms import NONE, Rule, Usage, Window, period_end
from gateway.config import Limits


def _money(amount: int) -> float:
    return float(usd(amount))


def _window(window: Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {"limit": window.limit, "remaining": window.remaining, "reset_seconds": window.reset}


def _budget(budget: int, period: str, spent: int, reserved: int) -> dict[str, Any] | None:
    if budget == NONE:
        return None
    return {
        "period": period[2:],
        "budget": _money(budget),
        "spent": _money(spent),
        "reserved": _money(reserved),
        "remaining": _money(max(0, budget - spent - reserved)),
        "resets_at": period_end(period).isoformat(),
    }


def _limits(rule: Rule) -> dict[str, Any]:
    return {
        "rpm": rule.rpm or None,
        "tpm": rule.tpm or None,
        "concurrency": rule.concurrency or None,
        "usd_per_day": None if rule.usd_per_day == NONE else _money(rule.usd_per_day),
        "usd_per_month": None if rule.usd_per_month == NONE else _money(rule.usd_per_month),
    }


def _entry(owner: dict[str, Any], rule: Rule, usage: Usage, day: str, month: str) -> dict:
    return {
        "object": "gateway.budget",
        "scope": "workload" if rule.scope.startswith("w:") else "key",
        **owner,
        "limits": _limits(rule),
        "requests": _window(usage.requests),
        "tokens": _window(usage.tokens),
        "concurrency": (
            {"limit": rule.concurrency, "in_flight": usage.in_flight} if rule.concurrency
            else None
        ),
        "usd_per_day": _budget(rule.usd_per_day, day, usage.spent_day, usage.reserved_day),
        "usd_per_month": _budget(
            rule.usd_per_month, month, usage.spent_month, usage.reserved_month
        ),
    }


async def budgets(limiter: Limiter, identity: Identity) -> list[dict[str, Any]]:
    """Every workload's and key's limits and figures now (admin), or the caller's own: its
    workload's and its key's."""
    owners: list[dict[str, Any]] = []
    rules: list[Rule] = []
    for name, rule in limiter.workloads.items():
        if identity.admin or identity.workload == name:
            owners.append({"workload": name, "key_id": None})
            rules.append(rule)
    for kid, rule in limiter.keys.items():
        if identity.admin or identity.key_id == kid:
            owners.append({**limiter.key_owners[kid], "key_id": kid})
            rules.append(rule)
    day, month, figures = await limiter.usage(rules)
    return [
        _entry(owner, rule, usage, day, month)
        for owner, rule, usage in zip(owners, rules, figures, strict=True)
    ]


def limits_record(limits: Limits | None) -> dict[str, Any] | None:
    """A key's limits as the key API shows them (None: none of its own)."""
    if limits is None or not limits.any:
        return None
    return _limits(Rule.of("", limits))
