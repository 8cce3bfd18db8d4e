"""Latest state per sensor that never goes backwards: the rule (pure) and its atomic writer (Lua).

A state is ``{"t", "v": {q: value}, "qa": {q: status}, "d": district[, "tq": {q: time}]}``. The
rule is per quantity: the newest observation of a quantity decides its status, and its value
unless it was quarantined (then ``v`` keeps the last good value). ``t`` is the newest time of any
quantity; ``tq`` names the quantities last observed before ``t`` (absent when every quantity is
at ``t``), so a sensor that reports its quantities separately, late or out of order, still keeps
the newest value of each. Equal times: the later write wins (a replay rewrites the same values).

Why a Lua script: ingest processes read-compare-write the same hash at once; a read in Python
and a write in the batch's MULTI would let a slower process write an older state over a newer
one. The script runs inside the batch's MULTI/EXEC (still one round trip per batch), reads and
writes in one step, and has a fast path: a *full* candidate (every quantity the sensor declares,
none quarantined, one time) whose time is not older than the stored ``t`` replaces the state
without decoding it (the stored JSON always starts with ``{"t":"...``). Everything else is decoded
and merged by `merge_state`'s rule, written out by a small encoder of the script's own:

- numbers as ``%.17g`` unless ``%.15g`` reads back the same (Redis's cjson keeps only 14 digits);
- objects written key by key (cjson, and fakeredis's stand-in, disagree on an empty table).

Times are compared as numbers parsed from the ISO text (``YYYY-MM-DDTHH:MM:SS[.ffffff]``, UTC),
not as Lua strings: Lua compares strings with ``strcoll``, and Redis sets the collation locale.
It is sent with EVAL, not EVALSHA: a script missing from the cache (restart, SCRIPT FLUSH)
inside a MULTI would fail alone while the stream appends around it succeed.

Cost (bench/ingest.py, Seoul scale, real Redis 7.0): redis-server CPU per 75,600 observations
went from about 0.06 s (a plain HSET) to 0.25 s, about 2.5 us per sensor state, spent while the
ingesting process waits for EXEC; the ingesting process itself no longer reads states back.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

QUARANTINED = "quarantined"

MERGE_LUA = r"""
local key, nfull = KEYS[1], tonumber(ARGV[1])
local out, write = {}, {}

local keyed = {}  -- time text -> {seconds as YYYYMMDDhhmmss, microseconds}; a batch has few times
local function tkey(t)
  local k = keyed[t]
  if k == nil then
    if type(t) ~= 'string' then return {-1, 0} end
    k = {tonumber((string.gsub(string.sub(t, 1, 19), '%D', ''))) or -1, tonumber(string.match(t, '^%.(%d+)', 20) or '0') or 0}
    keyed[t] = k
  end
  return k
end
local function ge(a, b)  -- time a is not older than time b
  if a == b then return true end
  local x, y = tkey(a), tkey(b)
  return x[1] > y[1] or (x[1] == y[1] and x[2] >= y[2])
end
local function tbl(x) if type(x) == 'table' then return x end return {} end
local function num(x)
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
local function val(x)
  if type(x) == 'number' then return num(x) end
  if type(x) == 'string' or type(x) == 'boolean' then return cjson.encode(x) end
  return 'null'
end
local function obj(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = cjson.encode(tostring(k)) .. ':' .. val(v) end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function merge(old, new)
  local v, qa, tq = tbl(old.v), tbl(old.qa), tbl(old.tq)
  local times = {}
  for q in pairs(v) do times[q] = tq[q] or old.t end
  for q in pairs(qa) do times[q] = tq[q] or old.t end
  local nv, ntq, changed = tbl(new.v), tbl(new.tq), false
  for q, status in pairs(tbl(new.qa)) do
    local nt = ntq[q] or new.t
    if times[q] == nil or ge(nt, times[q]) then
      if status ~= 'quarantined' and nv[q] ~= nil then v[q] = nv[q] end
      qa[q] = status
      times[q] = nt
      changed = true
    end
  end
  if not changed then return nil end
  local t = nil
  for _, qt in pairs(times) do if t == nil or not ge(t, qt) then t = qt end end
  t = t or new.t
  local older, any = {}, false
  for q, qt in pairs(times) do if qt ~= t and not ge(qt, t) then older[q] = qt; any = true end end
  local d = new.d
  if type(d) ~= 'string' then d = old.d end
  local s = '{"t":' .. cjson.encode(t) .. ',"v":' .. obj(v) .. ',"qa":' .. obj(qa) .. ',"d":' .. val(d)
  if any then s = s .. ',"tq":' .. obj(older) end
  return s .. '}'
end

local ids = {}
for i = 2, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local stored = {}
for i = 1, #ids, 1000 do
  local got = redis.call('HMGET', key, unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #got do stored[i + j - 1] = got[j] end
end
for n = 1, #ids do
  local id, cand, raw = ids[n], ARGV[2 * n + 1], stored[n]
  local result = cand
  if raw then
    local st = string.match(raw, '^{"t":"([^"]*)"')
    if not (n <= nfull and st and ge(string.match(cand, '^{"t":"([^"]*)"'), st)) then
      local ok, old = pcall(cjson.decode, raw)
      if ok and type(old) == 'table' then
        result = merge(old, cjson.decode(cand))
      end  -- an unreadable stored state is replaced by the candidate, not an error mid-MULTI
      out[#out + 1] = id
      out[#out + 1] = result or ''
    end
  end
  if result then
    write[#write + 1] = id
    write[#write + 1] = result
    if #write >= 2000 then redis.call('HSET', key, unpack(write)); write = {} end
  end
end
if #write > 0 then redis.call('HSET', key, unpack(write)) end
return out
"""


def _qtime(state: Mapping[str, Any], q: str) -> str:
    return (state.get("tq") or {}).get(q) or state.get("t") or ""


def merge_state(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The state after `new` arrives on `old`, or None when `new` changes nothing (all older).

    Pure; the same rule as the script's ``merge``. ISO UTC strings of Python's one format order
    as the times do, so they are compared as strings here.
    """
    if old is None:
        return dict(new)
    v, qa = dict(old.get("v") or {}), dict(old.get("qa") or {})
    times = {q: _qtime(old, q) for q in (*v, *qa)}
    nv = new.get("v") or {}
    changed = False
    for q, status in (new.get("qa") or {}).items():
        nt = _qtime(new, q)
        if q not in times or nt >= times[q]:
            if status != QUARANTINED and q in nv:
                v[q] = nv[q]
            qa[q] = status
            times[q] = nt
            changed = True
    if not changed:
        return None
    t = max(times.values(), default=new.get("t") or "")
    out: dict[str, Any] = {"t": t, "v": v, "qa": qa, "d": new.get("d") if new.get("d") is not None else old.get("d")}
    older = {q: qt for q, qt in times.items() if qt < t}
    if older:
        out["tq"] = older
    return out


def is_full(state: Mapping[str, Any], declared: int) -> bool:
    """True when `state` may replace a stored state wholesale if it is not older: it carries a
    value of every one of the sensor's `declared` quantities, none quarantined, all at ``t``."""
    return (len(state["v"]) == declared and len(state["qa"]) == declared and "tq" not in state
            and QUARANTINED not in state["qa"].values())


def queue_merge(pipe: Any, key: str, full: Mapping[str, Mapping[str, Any]], partial: Mapping[str, Mapping[str, Any]],
                dumps: Any = orjson.dumps) -> None:
    """Queue the script on `pipe` for one domain's candidates (full ones first, see `is_full`).

    Its reply, in the pipeline's results, is `[id, state JSON or "", ...]` for each candidate that
    was merged instead of written as sent ("": the stored state was newer in every quantity).
    """
    args: list[Any] = [len(full)]
    for sid, state in full.items():
        args += (sid, dumps(state))
    for sid, state in partial.items():
        args += (sid, dumps(state))
    pipe.eval(MERGE_LUA, 1, key, *args)


def apply_reply(reply: list[Any], states: dict[str, dict[str, Any]]) -> None:
    """Fold the script's reply into `states` (sensor id -> what this batch sent): merged states
    replace the sent ones, unchanged sensors are dropped (no live delta for them)."""
    for i in range(0, len(reply), 2):
        sid, raw = reply[i], reply[i + 1]
        if isinstance(sid, bytes):
            sid = sid.decode()
        if raw:
            states[sid] = orjson.loads(raw)
        else:
            states.pop(sid, None)
