# -*- test-case-name: sst.test.test_cluster_scripts -*-
"""
The Lua scripts that keep the shared dialog table consistent.  Redis runs each one
atomically, so two nodes never both claim, or both expire, one dialog.

Every script takes the deadline set's key as C{KEYS[1]}; the keys of dialog hashes and of
liveness keys are built from the prefix and passed as arguments (sst targets one Redis or
Valkey server, with replicas or Sentinel, not Redis Cluster).

A dialog hash has the fields of L{sst.cluster.layout}, among them C{o}, the node that owns
the dialog (its timers run there), and C{ea}, its expiry deadline.  The deadline set
scores each dialog with the time its owner must act next: its expiry, or in B2BUA mode
sst's next refresh when sooner.
"""
from __future__ import annotations

from sst.cluster.link import Script

__all__ = ["WRITE", "DUE", "SWEEP", "LOAD"]

#: Save and delete dialogs, in one step.
#: ARGV: this node, how many saves, then 11 values per save (key, score, then the hash
#: fields c f t s i r ca ea x), then the keys of the dialogs to delete.
#: A save keeps the dialog's owner; a new hash is owned by this node.
WRITE = Script("""
local z = KEYS[1]
local me = ARGV[1]
local saves = tonumber(ARGV[2])
local i = 3
for _ = 1, saves do
  local k = ARGV[i]
  redis.call('HSET', k, 'c', ARGV[i + 2], 'f', ARGV[i + 3], 't', ARGV[i + 4],
             's', ARGV[i + 5], 'i', ARGV[i + 6], 'r', ARGV[i + 7], 'ca', ARGV[i + 8],
             'ea', ARGV[i + 9], 'x', ARGV[i + 10])
  redis.call('HSETNX', k, 'o', me)
  redis.call('ZADD', z, ARGV[i + 1], k)
  i = i + 11
end
local deleted = 0
while i <= #ARGV do
  deleted = deleted + redis.call('DEL', ARGV[i])
  redis.call('ZREM', z, ARGV[i])
  i = i + 1
end
return deleted
""")

#: The timer of a dialog fired on a node: may it expire the dialog?
#: ARGV: the dialog's key, this node, the time now, the liveness key prefix.
#: Returns {'expire'} (the dialog is deleted: this node, and no other, expires it),
#: {'later', ea, i, r} (it was refreshed elsewhere: re-arm; this node owns it from now on
#: if its owner is dead), {'other'} (a live node owns it) or {'gone'} (it ended).
DUE = Script("""
local k = ARGV[1]
local owner = redis.call('HGET', k, 'o')
if not owner then
  redis.call('ZREM', KEYS[1], k)
  return {'gone'}
end
if owner ~= ARGV[2] and redis.call('EXISTS', ARGV[4] .. owner) == 1 then
  return {'other'}
end
local deadline = redis.call('HGET', k, 'ea')
if tonumber(deadline) > tonumber(ARGV[3]) then
  if owner ~= ARGV[2] then
    redis.call('HSET', k, 'o', ARGV[2])
  end
  return {'later', deadline, redis.call('HGET', k, 'i'), redis.call('HGET', k, 'r')}
end
redis.call('DEL', k)
redis.call('ZREM', KEYS[1], k)
return {'expire'}
""")

#: Claim the overdue dialogs of dead nodes (and this node's own, overdue by more than a
#: grace period: it restarted and lost them).
#: ARGV: this node, the time now, the most dialogs to look at, the liveness key prefix,
#: the grace period and the lease, in seconds.
#: Returns the claimed dialogs' hashes (as flat field/value lists); each is now owned by
#: this node, which restores it and so expires (or refreshes) it: no other node will.
#: A claimed dialog's score moves a lease ahead: if the claimer dies before it acts (which
#: deletes or saves the dialog), the dialog falls due again and another node claims it.
SWEEP = Script("""
local z = KEYS[1]
local me = ARGV[1]
local now = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[3]))
local claimed = {}
local alive = {}
for n = 1, #due, 2 do
  local k = due[n]
  local owner = redis.call('HGET', k, 'o')
  if not owner then
    redis.call('ZREM', z, k)
  else
    local live
    if owner == me then
      live = now - tonumber(due[n + 1]) < tonumber(ARGV[5])
    else
      live = alive[owner]
      if live == nil then
        live = redis.call('EXISTS', ARGV[4] .. owner) == 1
        alive[owner] = live
      end
    end
    if not live then
      redis.call('HSET', k, 'o', me)
      redis.call('ZADD', z, now + tonumber(ARGV[6]), k)
      claimed[#claimed + 1] = redis.call('HGETALL', k)
    end
  end
end
return claimed
""")

#: Read the dialog of an in-dialog request this node does not hold: ARGV are its keys
#: with the tags either way round.  Returns the first hash found (flat), or an empty list.
LOAD = Script("""
for _, k in ipairs(ARGV) do
  local h = redis.call('HGETALL', k)
  if #h > 0 then
    return h
  end
end
return {}
""")
