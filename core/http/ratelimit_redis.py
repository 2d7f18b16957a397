"""Redis limiter backend: one atomic Lua script shared by every worker on every machine.

Each call runs the script below with ``EVALSHA`` (redis-py loads it again after a server
restart), so checking every policy and taking the units is one atomic step: concurrent
processes never exceed a limit together. Time comes from the Redis server's ``TIME`` so
machines with skewed clocks agree (tests may inject a clock instead). Keys::

    crmhub:ratelimit:<key>:pause          the end of a Retry-After pause (string, PX expiry)
    crmhub:ratelimit:<key>:<policy>       state hash: level, ts, capacity, rate, limit, ...
    crmhub:ratelimit:<key>:<policy>:log   sliding-window log (sorted set of timestamps)
    crmhub:ratelimit:<key>:<policy>:pending  window entries admitted, not yet answered

The arithmetic is the same as :mod:`crmhub.core.http.ratelimit_memory`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import redis as redis_lib
from crmhub.core.http.ratelimit_policies import Decision, Policy, SlidingWindow, TokenBucket

LUA = r"""
local op = ARGV[1]
local now
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local args = cjson.decode(ARGV[3])
local TTL_MS, ALPHA, MIN_RATE, INFLIGHT_TAU, PENDING_TTL = 86400000, 0.3, 0.001, 60.0, 300.0
local function f(x) return string.format('%.6f', x) end

local function load_bucket(hkey, spec)
  local h = redis.call('HMGET', hkey, 'level', 'ts', 'capacity', 'rate', 'ref_t', 'ref_u', 'ref_n',
    'inflight', 'last_used', 'last_t')
  local b = {level = tonumber(h[1]) or 0, ts = tonumber(h[2]) or now,
    capacity = tonumber(h[3]) or spec.capacity, rate = tonumber(h[4]) or spec.rate,
    ref_t = tonumber(h[5]), ref_u = tonumber(h[6]) or 0, ref_n = tonumber(h[7]) or 0,
    inflight = tonumber(h[8]) or 0, last_used = tonumber(h[9]), last_t = tonumber(h[10]) or 0}
  if not spec.learn then b.capacity = spec.capacity; b.rate = spec.rate end
  if now > b.ts then
    b.level = math.max(0, b.level - (now - b.ts) * b.rate)
    b.inflight = b.inflight * math.exp(-(now - b.ts) / INFLIGHT_TAU)
    b.ts = now
  end
  return b
end

local function save_bucket(hkey, b)
  redis.call('HSET', hkey, 'level', f(b.level), 'ts', f(b.ts), 'capacity', f(b.capacity),
    'rate', f(b.rate), 'ref_u', f(b.ref_u), 'ref_n', f(b.ref_n), 'inflight', f(b.inflight))
  if b.ref_t then redis.call('HSET', hkey, 'ref_t', f(b.ref_t)) end
  if b.last_used then redis.call('HSET', hkey, 'last_used', f(b.last_used), 'last_t', f(b.last_t)) end
  redis.call('PEXPIRE', hkey, TTL_MS)
end

local function load_window(hkey, zkey, spec)
  local w = {limit = spec.limit, window = spec.window}
  if spec.learn then
    local h = redis.call('HMGET', hkey, 'limit', 'window')
    w.limit = tonumber(h[1]) or spec.limit; w.window = tonumber(h[2]) or spec.window
  end
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', f(now - w.window))
  w.count = redis.call('ZCARD', zkey)
  return w
end

local function save_window(hkey, zkey, pkey, w, units)
  for _ = 1, math.ceil(units) do
    local member = f(now) .. ':' .. redis.call('HINCRBY', hkey, 'seq', 1)
    redis.call('ZADD', zkey, f(now), member)
    if pkey then redis.call('ZADD', pkey, f(now), member) end
  end
  if pkey then redis.call('PEXPIRE', pkey, PENDING_TTL * 1000) end
  redis.call('HSET', hkey, 'limit', f(w.limit), 'window', f(w.window))
  redis.call('PEXPIRE', hkey, TTL_MS)
  redis.call('PEXPIRE', zkey, math.ceil(w.window * 1000) + 1000)
end

if op == 'acquire' then
  local cost, wait, loaded = args.cost, 0, {}
  local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
  if paused > now then wait = paused - now end
  for i, spec in ipairs(args.policies) do
    local hkey, zkey = KEYS[3 * i - 1], KEYS[3 * i]
    if spec.kind == 'bucket' then
      local b = load_bucket(hkey, spec)
      local excess = b.level + cost - math.max(cost, b.capacity * (1 - spec.margin))
      if excess > 0 then wait = math.max(wait, excess / b.rate) end
      loaded[i] = b
    else
      local w = load_window(hkey, zkey, spec)
      local allowed = math.max(cost, math.floor(w.limit * (1 - spec.margin) + 1e-9))
      local excess = w.count + cost - allowed
      if excess > 0 then
        local idx = math.ceil(excess) - 1
        local e = redis.call('ZRANGE', zkey, idx, idx, 'WITHSCORES')
        wait = math.max(wait, tonumber(e[2]) + w.window - now)
      end
      loaded[i] = w
    end
  end
  if wait > 0 then return {f(wait), f(now)} end
  for i, spec in ipairs(args.policies) do
    if spec.kind == 'bucket' then
      loaded[i].level = loaded[i].level + cost; loaded[i].inflight = loaded[i].inflight + cost
      save_bucket(KEYS[3 * i - 1], loaded[i])
    else
      save_window(KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1], loaded[i], cost)
    end
  end
  return {'0', f(now)}
elseif op == 'observe_bucket' then
  local spec, used, capacity, cost = args.policy, args.used, args.capacity, args.cost
  local b = load_bucket(KEYS[2], spec)
  if spec.learn and capacity > 0 and capacity ~= b.capacity then
    b.rate = b.rate * capacity / b.capacity; b.capacity = capacity
  end
  if spec.learn then
    if not b.ref_t then b.ref_t, b.ref_u, b.ref_n = now, used, 0 else
      b.ref_n = b.ref_n + cost
      local elapsed = now - b.ref_t
      if elapsed >= spec.learn_interval then
        local sample = (b.ref_u + b.ref_n - used) / elapsed
        if used - cost <= 1 then b.rate = math.max(b.rate, sample)
        elseif sample > 0 then b.rate = b.rate + ALPHA * (sample - b.rate) end
        b.rate = math.max(b.rate, MIN_RATE)
        b.ref_t, b.ref_u, b.ref_n = now, used, 0
      end
    end
  end
  if b.last_used then  -- a late answer must not undo a newer report
    used = math.max(used, b.last_used - b.rate * (now - b.last_t))
  end
  b.last_used, b.last_t = used, now
  b.level = used + b.inflight  -- the server's count plus what it has not answered yet
  save_bucket(KEYS[2], b)
  return {'0', f(now)}
elseif op == 'settle' then
  for i, spec in ipairs(args.policies) do
    local hkey, zkey, pkey = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
    if spec.kind == 'bucket' then
      local b = load_bucket(hkey, spec)
      b.inflight = math.max(0, b.inflight - args.cost); save_bucket(hkey, b)
    else  -- re-stamp answered entries: the server counted them on arrival, maybe later
      local w = load_window(hkey, zkey, spec)
      redis.call('ZREMRANGEBYSCORE', pkey, '-inf', f(now - PENDING_TTL))
      for _ = 1, math.ceil(args.cost) do
        local popped = redis.call('ZPOPMIN', pkey, 1)
        if popped[1] then redis.call('ZADD', zkey, f(now), popped[1]) end
      end
      redis.call('PEXPIRE', zkey, math.ceil(w.window * 1000) + 1000)
    end
  end
  return {'0', f(now)}
elseif op == 'observe_window' then
  local spec = args.policy
  local w = load_window(KEYS[2], KEYS[3], spec)
  if spec.learn then
    if args.limit > 0 then w.limit = args.limit end
    if args.window > 0 then w.window = args.window end
    w = {limit = w.limit, window = w.window}
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', f(now - w.window))
    w.count = redis.call('ZCARD', KEYS[3])
  end
  local server_limit = w.limit
  if args.limit > 0 then server_limit = args.limit end
  local unseen = server_limit - args.remaining - w.count
  if unseen < 0 then unseen = 0 end
  save_window(KEYS[2], KEYS[3], nil, w, unseen)
  return {'0', f(now)}
elseif op == 'pause' then
  local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
  if now + args.seconds > paused then
    redis.call('SET', KEYS[1], f(now + args.seconds), 'PX', math.ceil(args.seconds * 1000) + 1000)
  end
  return {'0', f(now)}
elseif op == 'state' then
  local spec = args.policy
  if spec.kind == 'bucket' then
    local b = load_bucket(KEYS[2], spec)
    return {cjson.encode({capacity = b.capacity, rate = b.rate, level = b.level,
      inflight = b.inflight}), f(now)}
  end
  local w = load_window(KEYS[2], KEYS[3], spec)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', f(now - PENDING_TTL))
  return {cjson.encode({limit = w.limit, window = w.window, count = w.count,
    pending = redis.call('ZCARD', KEYS[4])}), f(now)}
end
return redis.error_reply('unknown limiter operation ' .. tostring(op))
"""


class RedisLimiterBackend:
    """Limiter state in Redis, shared by all processes on all machines.

    :param redis: a ``redis://`` URL or a ready :class:`redis.Redis` client.
    :param prefix: key namespace.
    :param clock: seconds to use instead of the server's ``TIME`` (tests only; every user of
        the same keys must then share the clock).
    """

    def __init__(
        self,
        redis: str | redis_lib.Redis,
        *,
        prefix: str = "crmhub:ratelimit:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.redis = redis_lib.Redis.from_url(redis) if isinstance(redis, str) else redis
        self.prefix = prefix
        self._clock = clock
        self._script = self.redis.register_script(LUA)

    def _keys(self, key: str, names: list[str]) -> list[str]:
        base = f"{self.prefix}{key}"
        keys = [f"{base}:pause"]
        for name in names:
            keys += [f"{base}:{name}", f"{base}:{name}:log", f"{base}:{name}:pending"]
        return keys

    def _run(self, op: str, keys: list[str], payload: dict[str, Any]) -> tuple[str, float]:
        now = "" if self._clock is None else repr(float(self._clock()))
        raw = self._script(keys=keys, args=[op, now, json.dumps(payload)])
        first, second = (v.decode() if isinstance(v, bytes) else str(v) for v in raw)
        return first, float(second)

    def try_acquire(self, key: str, policies: Mapping[str, Policy], cost: float) -> Decision:
        """Admit ``cost`` units under every policy, or admit nothing and say how long to wait."""
        specs = [policy.spec() for policy in policies.values()]
        wait, now = self._run(
            "acquire", self._keys(key, list(policies)), {"cost": float(cost), "policies": specs}
        )
        return Decision(float(wait), now)

    def observe_bucket(
        self, key: str, name: str, policy: TokenBucket, *, used: float, capacity: float, cost: float
    ) -> None:
        """Record a server report of a bucket's fill level (``cost`` units were counted)."""
        payload = {
            "policy": policy.spec(),
            "used": float(used),
            "capacity": float(capacity),
            "cost": float(cost),
        }
        self._run("observe_bucket", self._keys(key, [name]), payload)

    def observe_window(
        self,
        key: str,
        name: str,
        policy: SlidingWindow,
        *,
        remaining: float,
        limit: float,
        window: float,
    ) -> None:
        """Record a server report of what is left in its window; unseen use is added as now."""
        payload = {
            "policy": policy.spec(),
            "remaining": float(remaining),
            "limit": float(limit),
            "window": float(window),
        }
        self._run("observe_window", self._keys(key, [name]), payload)

    def settle(self, key: str, policies: Mapping[str, Policy], cost: float) -> None:
        """Mark ``cost`` admitted units as answered or failed: no longer in flight."""
        specs = [policy.spec() for policy in policies.values()]
        self._run(
            "settle", self._keys(key, list(policies)), {"cost": float(cost), "policies": specs}
        )

    def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds`` (extends, never shortens, a pause)."""
        self._run("pause", self._keys(key, []), {"seconds": float(seconds)})

    def state(self, key: str, name: str, policy: Policy) -> dict[str, float]:
        """Return the current (learned) parameters and fill of one policy."""
        encoded, _ = self._run("state", self._keys(key, [name]), {"policy": policy.spec()})
        return {k: float(v) for k, v in json.loads(encoded).items()}
