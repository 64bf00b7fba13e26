// The Lua scripts of the Redis store. Each runs atomically in Redis, on
// Redis's clock (TIME), so instances whose clocks differ agree on deadlines.
// Keys: a sorted set node → deadline (ms), a hash node → where it beats from,
// and the channel every instance subscribes to.

/** Redis ms now, as a Lua number. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/**
 * KEYS: deadlines, sources, channel. ARGV: ttl, message, then per node:
 * name, age ms, source JSON. GT: a re-published (older) beat never moves a
 * deadline back. The message is published in the same atomic step, so every
 * instance hears beats and expiries in the order Redis applied them.
 */
export const BEAT = `${NOW}
local ttl = tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  redis.call('ZADD', KEYS[1], 'GT', now - tonumber(ARGV[i + 1]) + ttl, ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
end
-- The message is a JSON object; the write time goes in front, so a mirror can take off the delivery delay.
redis.call('PUBLISH', KEYS[3], string.format('{"at":%d,', now) .. string.sub(ARGV[2], 2))
return now`

/**
 * The reaper. KEYS: deadlines, sources, channel. ARGV: instance id, limit.
 * Removes what is due and says so on the channel, in one step: of several
 * instances reaping at once, one removes a node and the rest find nothing.
 * Returns { removed, ms to the next deadline or -1 }.
 */
export const REAP = `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('HDEL', KEYS[2], unpack(due))
  redis.call('PUBLISH', KEYS[3], cjson.encode({ t = 'expired', src = ARGV[1], nodes = due }))
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = tonumber(nxt[2]) - now end
return { #due, wait }`

/** KEYS: deadlines, sources. Every live node as name, ms left, source JSON (for an instance that (re)connects). */
export const SNAPSHOT = `${NOW}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = tonumber(live[i + 1]) - now
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or ''
end
return out`
