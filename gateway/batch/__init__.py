"""The batch lane: calls that can wait, queued and run later at a lower price.

    routing   which calls are deferred (`X-Gateway-Mode`, the workload's `mode`)
    lane      accepting a deferred call (202) and describing it afterwards
    tables    the durable state: deferred calls, provider jobs, files, Batch API objects
    store     status transitions of deferred calls (conditional UPDATEs: never twice)
    queue     the in-process queue; `redis_queue` the Redis Streams one (same semantics)
    worker    the loops: consume, pack and poll (`native`), run (`emulated`), reconcile,
              deliver callbacks (`webhooks`), finish Batch API objects (`batches`)
    outcome   a provider's answer -> the caller's shape, the ledger row, the final status
    clock     the database's clock, which every lease and claim is stamped and compared in
    allowlist where callbacks may go (hosts, ports, no private addresses), at accept and delivery

The database is the source of truth; the queue only says what to look at next.
"""
