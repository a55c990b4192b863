"""
Many sst nodes sharing one dialog table in Redis (C{--store redis://...}): see
C{doc/cluster.md}.

  - L{sst.cluster.config}: the C{--store} URL and the default C{--node-id}.
  - L{sst.cluster.link}: the connection to Redis (txredisapi), its health and time-outs.
  - L{sst.cluster.layout}: the keys and the hash of a dialog.
  - L{sst.cluster.scripts}: the Lua scripts that make each step atomic.
  - L{sst.cluster.store}: L{ClusterStore<sst.cluster.store.ClusterStore>}, which keeps the
    shared table up to date, decides each expiry with it, loads dialogs other nodes made,
    and claims those of dead nodes.
"""
