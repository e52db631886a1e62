-- ljbpf build-time prelude: runs in the sandboxed LuaJIT state before the probe file.
-- It defines `bpf` (declarations), wraps ffi so that cdef text and ctype names are recorded,
-- removes what a build-time script must not do, and offers `__ljbpf.dump(fn)` which turns a
-- program function into plain tables (bytecode words, lines, constants, upvalues) for Rust.
local ffi = require('ffi')
local bit = require('bit')
local jutil = require('jit.util')
local debug_getupvalue, debug_getinfo = debug.getupvalue, debug.getinfo
local real_typeof, real_cdef = ffi.typeof, ffi.cdef
local tostring, type, pairs, error, select, setmetatable = tostring, type, pairs, error, select, setmetatable
jit.off()

local L = { maps = {}, cdefs = {}, ctype_names = {}, next_map = 0 }
__ljbpf = L
-- Every table bpf.map/bpf.tracepoint/... returned, mapped to a private copy of its
-- declaration. The compiler reads only these copies: a table the probe file makes up to look
-- like a declaration is not in here, and changing a returned table afterwards changes nothing.
local genuine = {}
L.genuine = genuine

local function denied(what, instead)
  return function()
    error(what .. ' is not available while a probe file is compiled (it runs inside cargo build)'
      .. (instead and ('; ' .. instead) or ''), 2)
  end
end

-- ffi as probe files see it: no ffi.C, no ffi.load.
local uffi = {}
for k, v in pairs(ffi) do uffi[k] = v end
uffi.C = nil
uffi.load = denied('ffi.load')
setmetatable(uffi, { __index = function(_, k)
  if k == 'C' then
    error('ffi.C is not available while a probe file is compiled (it runs inside cargo build): '
      .. 'C functions cannot be called at build time', 2)
  end
  return nil
end })
uffi.cdef = function(src)
  if type(src) ~= 'string' then error('ffi.cdef expects a string of C declarations', 2) end
  local info = debug_getinfo(2, 'lS')
  local line = info.currentline or 0
  local ok, err = pcall(real_cdef, src)
  if not ok then
    -- LuaJIT says "... at line N" of the C text: point at that line of the file.
    local msg, n = tostring(err):gsub('^[^:]*:%d+: ', ''):match('^(.-) at line (%d+)$')
    local at = line + (tonumber(n) or 1) - 1
    error(('%s:%d: ffi.cdef: %s'):format(info.source:gsub('^@', ''), at, msg or tostring(err)), 0)
  end
  L.cdefs[#L.cdefs + 1] = { src = src, line = line }
end
uffi.typeof = function(t, ...)
  local ok, ct = pcall(real_typeof, t, ...)
  if not ok then error('ffi.typeof: ' .. tostring(ct):gsub('^[^:]*:%d+: ', ''), 2) end
  if type(t) == 'string' then L.ctype_names[tonumber(ct)] = t end
  return ct
end
L.ffi = uffi

local function ctype_name(ct)
  if type(ct) == 'string' then
    local ok = pcall(real_typeof, ct)
    if not ok then return nil, 'unknown C type ' .. ct .. ' (declare it with ffi.cdef first)' end
    return ct
  end
  if type(ct) == 'cdata' then
    local s = tostring(ct)
    local inner = s:match('^ctype<(.*)>$')
    if inner then return L.ctype_names[tonumber(ct)] or inner end
  end
  return nil
end

-- Set by the loader from ljbpf's table of map kinds.
local map_kinds = __ljbpf_map_kinds
__ljbpf_map_kinds = nil

local function caller_line()
  local info = debug_getinfo(3, 'l')
  return info and info.currentline or 0
end

local bpf = {}
function bpf.map(kind, max_entries, key, val, opts)
  if type(kind) ~= 'string' or not map_kinds[kind] then
    error('bpf.map: unknown map type ' .. tostring(kind) .. ' (expected one of hash, array, '
      .. 'percpu_hash, percpu_array, lru_hash, perf_event_array, ...)', 2)
  end
  max_entries = max_entries or 4096
  if type(max_entries) ~= 'number' or max_entries < 1 or max_entries % 1 ~= 0 or max_entries > 0xffffffff then
    error('bpf.map: max_entries must be a positive integer, got ' .. (type(max_entries) == 'string' and ('"' .. max_entries .. '"') or tostring(max_entries)), 2)
  end
  local kname, kerr = ctype_name(key or 'uint32_t')
  if not kname then error('bpf.map: bad key type: ' .. (kerr or ('expected a ctype (ffi.typeof) or a C type string, got a ' .. type(key))), 2) end
  local vname, verr = ctype_name(val or 'uint32_t')
  if not vname then error('bpf.map: bad value type: ' .. (verr or ('expected a ctype (ffi.typeof) or a C type string, got a ' .. type(val))), 2) end
  -- Display options for `ljbpf run`: recorded, never seen by the BPF code.
  local show = type(opts) == 'table' and rawget(opts, 'show') or nil
  local bad = opts ~= nil and (type(opts) ~= 'table' or (show ~= nil and type(show) ~= 'string'))
  for k in next, (not bad and opts or {}) do bad = bad or k ~= 'show' end
  if bad then
    error("bpf.map: the 5th argument is how `ljbpf run` shows the map, e.g. { show = 'log2' }", 2)
  end
  L.next_map = L.next_map + 1
  local line = caller_line()
  local rec = { __ljbpf = 'map', id = L.next_map, kind = kind, max_entries = max_entries,
                key = kname, val = vname, line = line, show = show }
  L.maps[L.next_map] = rec
  local m = { __ljbpf = 'map', id = L.next_map, kind = kind, max_entries = max_entries,
              key = kname, val = vname, line = line }
  genuine[m] = rec
  return setmetatable(m, { __index = function(_, k)
    error('maps can only be indexed inside program functions (key ' .. tostring(k) .. ')', 2)
  end })
end

local function program(kind, fn, extra)
  if type(fn) ~= 'function' then
    -- Level 2: bpf.tracepoint & co. tail-call this, so their caller is next.
    error('bpf.' .. kind .. ': the program must be a function, got ' .. type(fn), 2)
  end
  local p = { __ljbpf = 'program', kind = kind, fn = fn, line = caller_line() }
  for k, v in pairs(extra) do p[k] = v end
  local rec = {}
  for k, v in pairs(p) do rec[k] = v end
  genuine[p] = rec
  return p
end

function bpf.tracepoint(spec, fn)
  if type(spec) ~= 'string' or not spec:match('^[%w_]+/[%w_]+$') then
    error('bpf.tracepoint: expected "category/name", got ' .. (type(spec) == 'string' and ('"' .. spec .. '"') or type(spec)), 2)
  end
  return program('tracepoint', fn, { target = spec })
end
function bpf.socket(iface, fn)
  if fn == nil then iface, fn = nil, iface end
  if iface ~= nil and type(iface) ~= 'string' then
    error('bpf.socket: interface must be a name string, got ' .. type(iface), 2)
  end
  return program('socket', fn, { target = iface })
end
function bpf.kprobe(spec, fn, retprobe)
  if type(spec) ~= 'string' then error('bpf.kprobe: expected "[name:]function"', 2) end
  local func = spec:match(':(.+)$') or spec
  return program('kprobe', fn, { target = func, ret = retprobe and true or false })
end
function bpf.uprobe(spec, fn, retprobe)
  if type(spec) ~= 'string' or not spec:match('^.+:.+$') then
    error('bpf.uprobe: expected "path:symbol", got ' .. (type(spec) == 'string' and ('"' .. spec .. '"') or type(spec)), 2)
  end
  return program('uprobe', fn, { target = spec, ret = retprobe and true or false })
end
-- Tracing kinds (docs/kinds-tracing.md): a name, or for perf events a table the loader reads.
local function named(ctor, what, section)
  return function(name, fn)
    if type(name) ~= 'string' or not name:match('^[%w_.]+$') then
      error('bpf.' .. ctor .. ': expected a ' .. what .. ' name, got ' .. (type(name) == 'string' and ('"' .. name .. '"') or type(name)), 2)
    end
    if type(fn) ~= 'function' then error('bpf.' .. ctor .. ': the program must be a function, got ' .. type(fn), 2) end
    return program(section, fn, { target = name })
  end
end
bpf.raw_tracepoint = named('raw_tracepoint', 'tracepoint', 'raw_tp')
bpf.tp_btf = named('tp_btf', 'tracepoint', 'tp_btf')
bpf.fentry = named('fentry', 'kernel function', 'fentry')
bpf.fexit = named('fexit', 'kernel function', 'fexit')
function bpf.perf_event(spec, fn)
  if type(spec) ~= 'table' then
    error('bpf.perf_event: expected { type = \'software\', config = \'cpu_clock\', frequency = 99 }, got ' .. type(spec), 2)
  end
  if type(fn) ~= 'function' then error('bpf.perf_event: the program must be a function, got ' .. type(fn), 2) end
  return program('perf_event', fn, { perf_type = spec.type, perf_config = spec.config,
                                     frequency = spec.frequency, period = spec.period })
end
-- Packet hooks: bpf.xdp([iface,] fn), bpf.tc([iface, [direction,]] fn),
-- bpf.cgroup_skb([path, [direction,]] fn); a nil target is named when attaching.
local function hook(ctor, section, what, a, b, c)
  local target, direction, fn = a, b, c
  if type(a) == 'function' then target, direction, fn = nil, nil, a
  elseif type(b) == 'function' then direction, fn = nil, b end
  if type(fn) ~= 'function' then error(ctor .. ': the program must be a function, got ' .. type(fn), 2) end
  if target ~= nil and type(target) ~= 'string' then
    error(ctor .. ': ' .. what .. ' must be a string, got ' .. type(target), 2)
  end
  if direction ~= nil and direction ~= 'ingress' and direction ~= 'egress' then
    error(ctor .. ': direction must be "ingress" or "egress", got ' .. tostring(direction), 2)
  end
  return program(section, fn, { target = target, direction = direction })
end
function bpf.xdp(iface, fn)
  if fn == nil then iface, fn = nil, iface end
  return hook('bpf.xdp', 'xdp', 'the interface', iface, nil, fn)
end
function bpf.tc(...) return hook('bpf.tc', 'classifier', 'the interface', ...) end
function bpf.cgroup_skb(...) return hook('bpf.cgroup_skb', 'cgroup_skb', 'the cgroup path', ...) end
setmetatable(bpf, { __call = function(_, fn) return program('socket', fn, {}) end })
L.bpf = bpf

-- Describes a Lua value for the compiler: kind, payload.
local libs = { [bit] = 'bit', [uffi] = 'ffi', [ffi] = 'ffi', [math] = 'math', [string] = 'string',
               [table] = 'table', [bpf] = 'bpf' }
local int64_t, uint64_t = real_typeof('int64_t'), real_typeof('uint64_t')
function L.describe(v)
  local t = type(v)
  if t == 'nil' or t == 'boolean' or t == 'string' then return t, v end
  if t == 'number' then return 'number', v end
  if t == 'table' then
    local rec = genuine[v]
    if rec and rec.__ljbpf == 'map' then return 'map', rec.id end
    if libs[v] then return 'lib', libs[v] end
    return 'table', v
  end
  if t == 'cdata' then
    if ffi.istype(int64_t, v) then return 'int64', tostring(v):gsub('LL$', '') end
    if ffi.istype(uint64_t, v) then return 'uint64', tostring(v):gsub('ULL$', '') end
    local name = ctype_name(v)
    if name then return 'ctype', name end
    return 'cdata', tostring(real_typeof(v))
  end
  return t, tostring(v)
end

-- A program function as plain tables.
function L.dump(fn)
  local info = jutil.funcinfo(fn)
  local out = { params = info.params, stackslots = info.stackslots, linedefined = info.linedefined,
                lastline = info.lastlinedefined, ins = {}, lines = {}, knum = {}, kgc = {}, uv = {} }
  local pc = 0
  while true do
    local ins = jutil.funcbc(fn, pc)
    if not ins then break end
    out.ins[pc + 1] = ins
    out.lines[pc + 1] = jutil.funcinfo(fn, pc).currentline or 0
    pc = pc + 1
  end
  for i = 0, info.nconsts - 1 do out.knum[i + 1] = jutil.funck(fn, i) end
  for i = 1, info.gcconsts do
    local k = jutil.funck(fn, -i)
    local kind, payload = L.describe(k)
    -- Tables among a function's constants are templates of table constructors.
    if kind == 'proto' or kind == 'table' then
      -- templates of table constructors and child functions
      kind, payload = type(k) == 'table' and 'template' or 'proto', tostring(k)
    end
    out.kgc[i] = { kind = kind, payload = payload }
  end
  for i = 1, info.upvalues do
    local name, value = debug_getupvalue(fn, i)
    local kind, payload = L.describe(value)
    out.uv[i] = { name = name, kind = kind, payload = payload }
  end
  return out
end

-- The sandbox. What is taken away says so when touched.
local function deny_table(name, keep)
  return setmetatable(keep or {}, { __index = function(_, k)
    error(name .. '.' .. tostring(k) .. ' is not available while a probe file is compiled '
      .. '(it runs inside cargo build)', 2)
  end })
end
io = deny_table('io')
os = deny_table('os', { time = os.time, clock = os.clock, date = os.date })
debug = deny_table('debug')
-- The time limit is enforced by an instruction hook, which JIT-compiled code would skip.
local jit_keep = {}
for k, v in pairs(jit) do jit_keep[k] = v end
jit_keep.on, jit_keep.opt, jit_keep.attach, jit_keep.flush = nil, nil, nil, nil
jit = deny_table('jit', jit_keep)
package.loaded['jit'] = jit
local allowed = { ffi = true, bit = true, string = true, table = true, math = true, jit = true }
local real_require = require
require = function(name)
  if not allowed[name] then
    error('require("' .. tostring(name) .. '") is not available while a probe file is compiled '
      .. '(it runs inside cargo build); probe files may require ffi, bit, string, table, math', 2)
  end
  return real_require(name)
end
dofile = denied('dofile')
loadfile = denied('loadfile')
local real_load, real_loadstring = load, loadstring
load = function(chunk, name, mode, env)
  return real_load(chunk, name, 't', env)
end
loadstring = function(s, name) return real_load(s, name, 't') end
package.loadlib = denied('package.loadlib')
package.cpath = ''
package.path = ''
package.loaders[3] = nil
package.loaders[4] = nil
package.preload['ffi'] = function() return uffi end
package.loaded['ffi'] = uffi
package.loaded['io'] = io
package.loaded['os'] = os
package.loaded['debug'] = debug
_G.ffi = uffi
_G.bpf = bpf

-- A build script's stdout is where cargo reads directives (`cargo:rustc-link-arg=...`), so the
-- probe file's `print` must never reach it: the loader gets the text and shows it escaped on
-- stderr. (io is gone above; this is the only other way Lua writes to stdout.)
local print_sink = __ljbpf_print
__ljbpf_print = nil
print = function(...)
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
  print_sink(table.concat(parts, '\t'))
end
