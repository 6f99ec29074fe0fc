"""Limits and budgets per workload and per key: requests and tokens per minute, calls in
flight, USD per UTC day and month.

    estimate    the most a call can cost, and its tokens, from its request alone
    terms       the data a limiter and its store exchange; budget periods
    limiter     the hooks: admit (before the call), release (it ended), settle (it was costed)
    scripts     the Redis store's Lua scripts: each step atomic over every bucket
    redis_store the buckets in Redis, shared by every replica
    leases      headroom a replica takes from Redis ahead of its calls: most admissions local
    memory      the same semantics in this process (no Redis)
    headers     x-ratelimit-* headers and the 429 of a refusal
    report      budgets and headroom for the API, the dashboard and metrics
"""
