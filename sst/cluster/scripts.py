# -*- test-case-name: sst.test.test_cluster_store -*-
"""
The Lua scripts that keep the shared dialog table consistent.  Redis runs each one
atomically, so two nodes never both claim, or both expire, one dialog.

Every script takes the deadline set's key as C{KEYS[1]}; the keys of dialog hashes, of
node sets and of liveness keys are built from the prefix and passed as arguments (sst
targets one Redis or Valkey server, with replicas or Sentinel, not Redis Cluster).

A dialog hash has the fields of L{sst.cluster.layout}, among them C{o}, the node that owns
the dialog (its timers run there), and C{ea}, its expiry deadline.  The deadline set
scores each dialog with the time its owner must act next: its expiry, or in B2BUA mode
sst's next refresh when sooner.  Each node's set (C{<prefix>n:<node>}) holds the keys of
the dialogs it owns, so that a node restarted under the same name takes them back at once.
"""
from __future__ import annotations

from sst.cluster.link import Script

__all__ = ["WRITE", "DUE", "SWEEP", "LOAD", "TAKE", "ADOPT"]

#: Save and delete dialogs, in one step.
#: ARGV: this node, a JSON array of saves (each an array of 12 strings: key, score, the
#: hash fields c f t s i r ca ea x, and the key of the dialog's group or an empty string),
#: a JSON array of the keys of dialogs to delete, the prefix of node sets.
#: A group is the set of the dialogs one B2BUA call is made of (its two legs): a sweeper
#: claims them together, so that one node, not two, takes the call over.
#: A save keeps the dialog's owner; a new hash is owned by this node.  (A batch travels as
#: two JSON arguments rather than 11 per dialog: the client's cost is per argument.)
WRITE = Script("""
local z = KEYS[1]
local me = ARGV[1]
local nodes = ARGV[4]
for _, d in ipairs(cjson.decode(ARGV[2])) do
  local k = d[1]
  redis.call('HSET', k, 'c', d[3], 'f', d[4], 't', d[5], 's', d[6], 'i', d[7], 'r', d[8],
             'ca', d[9], 'ea', d[10], 'x', d[11])
  if redis.call('HSETNX', k, 'o', me) == 1 then
    redis.call('SADD', nodes .. me, k)
  end
  redis.call('ZADD', z, d[2], k)
  if d[12] ~= '' then
    redis.call('HSET', k, 'g', d[12])
    redis.call('SADD', d[12], k)
  end
end
local deleted = 0
for _, k in ipairs(cjson.decode(ARGV[3])) do
  local owner, g = unpack(redis.call('HMGET', k, 'o', 'g'))
  if owner then
    redis.call('SREM', nodes .. owner, k)
  end
  if g then
    redis.call('SREM', g, k)
  end
  deleted = deleted + redis.call('DEL', k)
  redis.call('ZREM', z, k)
end
return deleted
""")

#: The timer of a dialog fired on a node: may it expire the dialog?
#: ARGV: the dialog's key, this node, the time now, the liveness key prefix, the prefix of
#: node sets.
#: Returns {'expire'} (the dialog is deleted: this node, and no other, expires it),
#: {'later', ea, i, r} (it was refreshed elsewhere: re-arm; this node owns it from now on
#: if its owner is dead), {'other'} (a live node owns it) or {'gone'} (it ended).
DUE = Script("""
local k = ARGV[1]
local me = ARGV[2]
local nodes = ARGV[5]
local owner = redis.call('HGET', k, 'o')
if not owner then
  redis.call('ZREM', KEYS[1], k)
  return {'gone'}
end
if owner ~= me and redis.call('EXISTS', ARGV[4] .. owner) == 1 then
  return {'other'}
end
local deadline = redis.call('HGET', k, 'ea')
if tonumber(deadline) > tonumber(ARGV[3]) then
  if owner ~= me then
    redis.call('HSET', k, 'o', me)
    redis.call('SMOVE', nodes .. owner, nodes .. me, k)
  end
  return {'later', deadline, redis.call('HGET', k, 'i'), redis.call('HGET', k, 'r')}
end
local g = redis.call('HGET', k, 'g')
if g then
  redis.call('SREM', g, k)
end
redis.call('SREM', nodes .. owner, k)
redis.call('DEL', k)
redis.call('ZREM', KEYS[1], k)
return {'expire'}
""")

#: Claim the overdue dialogs of dead nodes (and this node's own, overdue by more than a
#: grace period: it lost them).
#: ARGV: this node, the time now, the most dialogs to look at, the liveness key prefix,
#: the grace period and the lease, in seconds, the prefix of node sets.
#: Returns the claimed dialogs' hashes (as flat field/value lists, C{o} still naming the
#: node they were taken from); each is now owned by this node, which restores it and so expires (or refreshes) it: no other node will.
#: The other dialogs of a claimed dialog's group that the same dead node owned are claimed
#: with it.  A claimed dialog's score moves a lease ahead: if the claimer dies before it
#: acts (which deletes or saves the dialog), the dialog falls due again and another node
#: claims it.
SWEEP = Script("""
local z = KEYS[1]
local me = ARGV[1]
local now = tonumber(ARGV[2])
local lease = now + tonumber(ARGV[6])
local nodes = ARGV[7]
local due = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[3]))
local claimed = {}
local done = {}
local alive = {}
local function claim(k, owner)
  done[k] = true
  claimed[#claimed + 1] = redis.call('HGETALL', k)
  redis.call('HSET', k, 'o', me)
  if owner ~= me then
    redis.call('SMOVE', nodes .. owner, nodes .. me, k)
  end
  redis.call('ZADD', z, lease, k)
end
for n = 1, #due, 2 do
  local k = due[n]
  local owner = redis.call('HGET', k, 'o')
  if not owner then
    redis.call('ZREM', z, k)
  elseif not done[k] then
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
      claim(k, owner)
      local g = redis.call('HGET', k, 'g')
      if g then
        for _, m in ipairs(redis.call('SMEMBERS', g)) do
          if not done[m] and redis.call('HGET', m, 'o') == owner then
            claim(m, owner)
          end
        end
      end
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

#: B2BUA mode: take over the call of an in-dialog request this node does not hold, if its
#: owner is dead (or is this node, which lost it).
#: ARGV: this node, the liveness key prefix, the prefix of node sets, the request's dialog
#: keys with the tags either way round.
#: Returns {'taken', hash, hash, ...} with the dialog and the other dialogs of its group
#: that the same node owned, now owned by this node; {'held', owner} when a live node
#: holds it; or {} when there is no such dialog.
TAKE = Script("""
local me = ARGV[1]
local nodes = ARGV[3]
for n = 4, #ARGV do
  local k = ARGV[n]
  local owner = redis.call('HGET', k, 'o')
  if owner then
    if owner ~= me and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
      return {'held', owner}
    end
    local members = {k}
    local g = redis.call('HGET', k, 'g')
    if g then
      for _, m in ipairs(redis.call('SMEMBERS', g)) do
        if m ~= k and redis.call('HGET', m, 'o') == owner then
          members[#members + 1] = m
        end
      end
    end
    local out = {'taken'}
    for _, m in ipairs(members) do
      out[#out + 1] = redis.call('HGETALL', m)
      if owner ~= me then
        redis.call('HSET', m, 'o', me)
        redis.call('SMOVE', nodes .. owner, nodes .. me, m)
      end
    end
    return out
  end
end
return {}
""")

#: A node (re)starting takes back the dialogs it owns, a page at a time.
#: ARGV: this node, the prefix of node sets, the cursor (0 to start), the page size.
#: Returns {next cursor (0 when done), hash, hash, ...}.
ADOPT = Script("""
local mine = ARGV[2] .. ARGV[1]
local page = redis.call('SSCAN', mine, ARGV[3], 'COUNT', tonumber(ARGV[4]))
local out = {page[1]}
for _, k in ipairs(page[2]) do
  if redis.call('HGET', k, 'o') == ARGV[1] then
    out[#out + 1] = redis.call('HGETALL', k)
  else
    redis.call('SREM', mine, k)
  end
end
return out
""")
