-- ljbpf build-time prelude. It runs once, in the real global environment of a fresh LuaJIT
-- state, before the probe file, and returns the compiler's private table. The probe file then
-- runs with `env` below as its environment (setfenv): a table that holds only a description
-- API. Nothing in `env` reaches memory (no real ffi: `ffi.*` here is ljbpf's own C type model,
-- called as Rust functions), files (no io, os, package, loaders, load*, dofile, require of
-- anything but the description modules), code execution or the compiler's own references
-- (jit.util and debug.* are locals of this chunk; no getfenv, no debug), or a way around the
-- time limit (no coroutine; pcall/xpcall re-raise once a limit passed; JIT off so the
-- instruction hook sees every loop). Everything the compiler calls later is captured here as a
-- local, so a probe file that replaces a global or a library field changes nothing the compiler
-- runs.
--
-- `host` holds the Rust side: the C type model (cdef, typeof, sizeof, alignof, offsetof,
-- constant), the print sink, the map kinds, and `limit()`, the message of a limit that passed.
local host = ...

local jutil = require('jit.util')
local funcbc, funck, funcinfo = jutil.funcbc, jutil.funck, jutil.funcinfo
local getupvalue, getinfo = debug.getupvalue, debug.getinfo
local rawtype, rawtostring, tonumber = type, tostring, tonumber
local pairs, ipairs, next, select, unpack = pairs, ipairs, next, select, unpack
local error, pcall, xpcall = error, pcall, xpcall
local setmetatable, getmetatable, rawget, rawset, rawequal = setmetatable, getmetatable, rawget, rawset, rawequal
local setfenv = setfenv
local sformat, sgsub, smatch, sfind, ssub, sbyte = string.format, string.gsub, string.match, string.find, string.sub, string.byte
local concat = table.concat
local host_cdef, host_typeof, host_sizeof = host.cdef, host.typeof, host.sizeof
local host_alignof, host_offsetof, host_constant = host.alignof, host.offsetof, host.constant
local host_print, host_limit, host_mark, map_kinds = host.print, host.limit, host.mark, host.map_kinds

-- The time limit is an instruction hook, which machine code made by the JIT would skip.
jit.off()
jit.flush()

local L = { maps = {}, next_map = 0, declarations = 0 }
-- Every table bpf.map/bpf.tracepoint/... returned, mapped to a private copy of its
-- declaration. The compiler reads only these copies: a table the probe file makes up to look
-- like a declaration is not in here, and changing a returned table afterwards changes nothing.
local genuine = {}
L.genuine = genuine

local RUNS_IN_BUILD = ' is not available while a probe file is compiled (it runs inside cargo build)'

local function denied(what, instead)
  return function()
    error(what .. RUNS_IN_BUILD .. (instead and ('; ' .. instead) or ''), 2)
  end
end

-- A table that says what was taken away when a field is read, and holds nothing.
local function deny_table(name, why)
  return setmetatable({}, {
    __index = function(_, k)
      error(name .. '.' .. rawtostring(k) .. RUNS_IN_BUILD .. (why or ''), 2)
    end,
    __newindex = function() error(name .. RUNS_IN_BUILD, 2) end,
    __metatable = false,
  })
end

local function quote(v)
  if rawtype(v) == 'string' then return '"' .. v .. '"' end
  return rawtype(v)
end

-- The line of the probe file that called a declaration function (`level` frames up).
-- The compiler holds every declaration while it reads the returned table (one slot of the
-- Lua state's stack each, which has 65,500): far more maps and programs than a BPF object can
-- use are refused at the line of the one too many.
local MAX_DECLARATIONS = 10000
local function declared(what)
  L.declarations = L.declarations + 1
  if L.declarations > MAX_DECLARATIONS then
    error(what .. ': more than ' .. MAX_DECLARATIONS .. ' maps and programs in one probe file', 3)
  end
end

local function caller_line(level)
  local info = getinfo(level + 1, 'l')
  return info and info.currentline or 0
end

-- The line of the innermost Lua function of the probe file that is running (skipping C
-- functions such as pcall, and the prelude), for progress reports.
local function probe_line()
  for level = 3, 40 do
    local info = getinfo(level, 'Sl')
    if not info then break end
    if info.what ~= 'C' and info.source ~= '=ljbpf-prelude' then return info.currentline or 0 end
  end
  return 0
end

-- ---------------------------------------------------------------------------------------------
-- C types: opaque values the compiler recognises. `tostring` gives `ctype<...>` like LuaJIT;
-- `type` says 'cdata' like LuaJIT. Calling one is `ffi.new`.
local ctype_info = setmetatable({}, { __mode = 'k' }) -- ctype -> { name = as written, c = canonical }
local interned = {}                                   -- name as written -> ctype
local ctype_mt = { __metatable = 'ctype' }

local function make_ctype(name, canonical)
  local ct = interned[name]
  if ct then return ct end
  ct = setmetatable({}, ctype_mt)
  ctype_info[ct] = { name = name, c = canonical }
  interned[name] = ct
  return ct
end

-- The two cdata values a probe file can make (LuaJIT's lexer makes them for `LL`/`ULL`).
local function int64_kind(v)
  if rawtype(v) ~= 'cdata' then return nil end
  local s = rawtostring(v)
  if smatch(s, '^%-?%d+ULL$') then return 'uint64_t' end
  if smatch(s, '^%-?%d+LL$') then return 'int64_t' end
  return nil
end

-- The C type name of a ctype, a C type string or a 64-bit cdata; nil and a reason otherwise.
local function ctype_name(t)
  if rawtype(t) == 'table' then
    local info = rawget(ctype_info, t)
    if info then return info.name, info.c end
    return nil, 'expected a ctype (ffi.typeof) or a C type string, got a table'
  end
  if rawtype(t) == 'string' then
    local canonical, err = host_typeof(t)
    if not canonical then return nil, err end
    return t, canonical
  end
  local k = int64_kind(t)
  if k then return k, k end
  return nil, 'expected a ctype (ffi.typeof) or a C type string, got ' .. (t == nil and 'nil' or ('a ' .. rawtype(t)))
end

function ctype_mt.__tostring(ct)
  return 'ctype<' .. rawget(ctype_info, ct).c .. '>'
end
function ctype_mt.__index(ct, k)
  error('ctype<' .. rawget(ctype_info, ct).c .. '> has no field ' .. quote(k)
    .. ' at the top level of a probe file', 2)
end
function ctype_mt.__newindex(ct)
  error('ctype<' .. rawget(ctype_info, ct).c .. '> cannot be changed', 2)
end

-- ---------------------------------------------------------------------------------------------
-- ffi as the top level sees it: declarations and questions about types, answered by ljbpf's
-- own C type model. What makes or touches C objects exists only inside program functions.
local uffi = {}
local function in_programs_only(name)
  return function()
    error('ffi.' .. name .. ' works only inside program functions: at the top level of a probe '
      .. 'file there is no C memory (it runs inside cargo build)', 2)
  end
end
for _, name in ipairs({ 'cast', 'copy', 'fill', 'string', 'gc', 'metatype', 'errno', 'tonumber',
                        'typeinfo' }) do
  uffi[name] = in_programs_only(name)
end
uffi.load = denied('ffi.load')
uffi.os, uffi.arch = 'Linux', 'x64'
uffi.C = setmetatable({}, {
  __index = function(_, k)
    local v = rawtype(k) == 'string' and host_constant(k)
    if v then return v end
    error('ffi.C' .. RUNS_IN_BUILD .. ': C functions cannot be called at build time', 2)
  end,
  __newindex = function() error('ffi.C cannot be changed', 2) end,
  __metatable = false,
})

function uffi.cdef(src)
  if rawtype(src) ~= 'string' then error('ffi.cdef expects a string of C declarations', 2) end
  local info = getinfo(2, 'lS')
  local err_line, msg = host_cdef(src, info.currentline or 0)
  if err_line then
    error(sformat('%s:%d: ffi.cdef: %s', sgsub(info.source, '^@', ''), err_line, msg), 0)
  end
end

function uffi.typeof(t, ...)
  if rawtype(t) == 'string' and select('#', ...) > 0 then
    -- Parameterised types: each `$` is replaced by the name of the next argument's type.
    local args, i = { ... }, 0
    local bad
    t = sgsub(t, '%$', function()
      i = i + 1
      local name = ctype_name(args[i])
      if not name or sfind(name, '[%[%(]') then bad = i return '$' end
      return name
    end)
    if bad then
      error('ffi.typeof: argument ' .. (bad + 1) .. ' for `$` must be a ctype of a scalar, '
        .. 'struct or pointer type', 2)
    end
  end
  local name, canonical = ctype_name(t)
  if not name then error('ffi.typeof: ' .. canonical, 2) end
  return make_ctype(name, canonical)
end

function uffi.sizeof(t)
  local name, why = ctype_name(t)
  if not name then error('ffi.sizeof: ' .. why, 2) end
  return host_sizeof(name)
end

function uffi.alignof(t)
  local name, why = ctype_name(t)
  if not name then error('ffi.alignof: ' .. why, 2) end
  return host_alignof(name)
end

function uffi.offsetof(t, field)
  local name, why = ctype_name(t)
  if not name then error('ffi.offsetof: ' .. why, 2) end
  if rawtype(field) ~= 'string' then return nil end
  return host_offsetof(name, field)
end

function uffi.istype(t, v)
  local name, canonical = ctype_name(t)
  if not name then error('ffi.istype: ' .. canonical, 2) end
  local k = int64_kind(v)
  return k ~= nil and k == canonical
end

function uffi.abi(what)
  return what == '64bit' or what == 'le' or what == 'fpu' or what == 'hardfp'
end

-- The 64-bit integers are the one kind of C value the top level has (as `LL`/`ULL` literals
-- already are); every other C object exists only while a program runs.
local function make64(canonical, v)
  v = v or 0
  if canonical == 'int64_t' then return 0LL + v end
  if canonical == 'uint64_t' then return 0ULL + v end
  return nil
end

function uffi.new(t, v)
  local name, canonical = ctype_name(t)
  if not name then error('ffi.new: ' .. canonical, 2) end
  local n = make64(canonical, v)
  if n then return n end
  error('ffi.new(' .. quote(name) .. ') makes a C object, which exists only while a program '
    .. 'runs: call it inside a program function', 2)
end

uffi.cast = function(t, v)
  local name, canonical = ctype_name(t)
  if not name then error('ffi.cast: ' .. canonical, 2) end
  if rawtype(v) == 'number' or int64_kind(v) then
    local n = make64(canonical, v)
    if n then return n end
  end
  error('ffi.cast to ' .. quote(name) .. ' works only inside program functions: at the top '
    .. 'level of a probe file there is no C memory (it runs inside cargo build)', 2)
end

function ctype_mt.__call(ct, ...)
  return uffi.new(ct, ...)
end

-- ---------------------------------------------------------------------------------------------
-- Declarations.
local bpf = {}
local map_mt = {
  __index = function(_, k)
    error('maps can only be indexed inside program functions (key ' .. rawtostring(k) .. ')', 2)
  end,
  __newindex = function(_, k)
    error('maps can only be changed inside program functions (key ' .. rawtostring(k) .. ')', 2)
  end,
  __metatable = false,
}
function bpf.map(kind, max_entries, key, val, opts)
  if rawtype(kind) ~= 'string' or not map_kinds[kind] then
    error('bpf.map: unknown map type ' .. rawtostring(kind) .. ' (expected one of hash, array, '
      .. 'percpu_hash, percpu_array, lru_hash, perf_event_array, ...)', 2)
  end
  if max_entries == nil then max_entries = 4096 end
  if rawtype(max_entries) ~= 'number' or max_entries < 1 or max_entries % 1 ~= 0 or max_entries > 0xffffffff then
    error('bpf.map: max_entries must be a positive integer, got ' .. (rawtype(max_entries) == 'string' and ('"' .. max_entries .. '"') or rawtostring(max_entries)), 2)
  end
  local kname, kc = ctype_name(key or 'uint32_t')
  if not kname then error('bpf.map: bad key type: ' .. kc, 2) end
  local vname, vc = ctype_name(val or 'uint32_t')
  if not vname then error('bpf.map: bad value type: ' .. vc, 2) end
  for _, t in ipairs({ { 'key', kc }, { 'value', vc } }) do
    local size = host_sizeof(t[2])
    if not size or size == 0 then
      error('bpf.map: the ' .. t[1] .. ' type ' .. t[2] .. ' has no size; a map ' .. t[1]
        .. ' needs a complete type of at least one byte', 2)
    end
  end
  -- Display options for `ljbpf run`: recorded, never seen by the BPF code.
  local show = rawtype(opts) == 'table' and rawget(opts, 'show') or nil
  local bad = opts ~= nil and (rawtype(opts) ~= 'table' or (show ~= nil and rawtype(show) ~= 'string'))
  for k in next, (not bad and opts or {}) do bad = bad or k ~= 'show' end
  if bad then
    error("bpf.map: the 5th argument is how `ljbpf run` shows the map, e.g. { show = 'log2' }", 2)
  end
  declared('bpf.map')
  L.next_map = L.next_map + 1
  local line = caller_line(2)
  local rec = { id = L.next_map, kind = kind, max_entries = max_entries, key = kname,
                val = vname, line = line, show = show }
  L.maps[L.next_map] = rec
  local m = setmetatable({}, map_mt)
  genuine[m] = { __ljbpf = 'map', id = L.next_map, line = line }
  return m
end

-- Every program constructor goes through here: `kind` is the section prefix of the program's
-- class (ljbpf-core's table), `extra` its `target` and `ret`; Rust maps them to a ProgramKind.
local function program(kind, fn, extra)
  if rawtype(fn) ~= 'function' then
    -- Level 2: bpf.tracepoint & co. tail-call this, so their caller is next.
    error('bpf.' .. kind .. ': the program must be a function, got ' .. rawtype(fn), 2)
  end
  declared('bpf.' .. kind)
  local p = setmetatable({}, { __metatable = false })
  local rec = { __ljbpf = 'program', kind = kind, fn = fn, line = caller_line(2) }
  for k, v in pairs(extra) do rec[k] = v end
  genuine[p] = rec
  return p
end

function bpf.tracepoint(spec, fn)
  if rawtype(spec) ~= 'string' or not smatch(spec, '^[%w_]+/[%w_]+$') then
    error('bpf.tracepoint: expected "category/name", got ' .. quote(spec), 2)
  end
  return program('tracepoint', fn, { target = spec })
end
function bpf.socket(iface, fn)
  if fn == nil then iface, fn = nil, iface end
  if iface ~= nil and rawtype(iface) ~= 'string' then
    error('bpf.socket: interface must be a name string, got ' .. rawtype(iface), 2)
  end
  return program('socket', fn, { target = iface })
end
function bpf.kprobe(spec, fn, retprobe)
  if rawtype(spec) ~= 'string' then error('bpf.kprobe: expected "[name:]function"', 2) end
  local func = smatch(spec, ':(.+)$') or spec
  return program('kprobe', fn, { target = func, ret = retprobe and true or false })
end
function bpf.uprobe(spec, fn, retprobe)
  if rawtype(spec) ~= 'string' or not smatch(spec, '^.+:.+$') then
    error('bpf.uprobe: expected "path:symbol", got ' .. quote(spec), 2)
  end
  return program('uprobe', fn, { target = spec, ret = retprobe and true or false })
end
-- Tracing kinds (docs/kinds-tracing.md): a name, or for perf events a table the loader reads.
local function named(ctor, what, section)
  return function(name, fn)
    if rawtype(name) ~= 'string' or not smatch(name, '^[%w_.]+$') then
      error('bpf.' .. ctor .. ': expected a ' .. what .. ' name, got ' .. quote(name), 2)
    end
    if rawtype(fn) ~= 'function' then error('bpf.' .. ctor .. ': the program must be a function, got ' .. rawtype(fn), 2) end
    return program(section, fn, { target = name })
  end
end
bpf.raw_tracepoint = named('raw_tracepoint', 'tracepoint', 'raw_tp')
bpf.tp_btf = named('tp_btf', 'tracepoint', 'tp_btf')
bpf.fentry = named('fentry', 'kernel function', 'fentry')
bpf.fexit = named('fexit', 'kernel function', 'fexit')
function bpf.perf_event(spec, fn)
  if rawtype(spec) ~= 'table' then
    error('bpf.perf_event: expected { type = \'software\', config = \'cpu_clock\', frequency = 99 }, got ' .. rawtype(spec), 2)
  end
  if rawtype(fn) ~= 'function' then error('bpf.perf_event: the program must be a function, got ' .. rawtype(fn), 2) end
  -- Raw reads: the spec's own metamethods do not run on the compiler's behalf.
  return program('perf_event', fn, { perf_type = rawget(spec, 'type'), perf_config = rawget(spec, 'config'),
                                     frequency = rawget(spec, 'frequency'), period = rawget(spec, 'period') })
end
-- Packet hooks: bpf.xdp([iface,] fn), bpf.tc([iface, [direction,]] fn),
-- bpf.cgroup_skb([path, [direction,]] fn); a nil target is named when attaching.
local function hook(ctor, section, what, a, b, c)
  local target, direction, fn = a, b, c
  if rawtype(a) == 'function' then target, direction, fn = nil, nil, a
  elseif rawtype(b) == 'function' then direction, fn = nil, b end
  if rawtype(fn) ~= 'function' then error(ctor .. ': the program must be a function, got ' .. rawtype(fn), 2) end
  if target ~= nil and rawtype(target) ~= 'string' then
    error(ctor .. ': ' .. what .. ' must be a string, got ' .. rawtype(target), 2)
  end
  if direction ~= nil and direction ~= 'ingress' and direction ~= 'egress' then
    -- Not tostring: a value's own __tostring would run for the compiler.
    local got = rawtype(direction) == 'string' and direction or rawtype(direction)
    error(ctor .. ': direction must be "ingress" or "egress", got ' .. got, 2)
  end
  return program(section, fn, { target = target, direction = direction })
end
function bpf.xdp(iface, fn)
  if fn == nil then iface, fn = nil, iface end
  return hook('bpf.xdp', 'xdp', 'the interface', iface, nil, fn)
end
function bpf.tc(...) return hook('bpf.tc', 'classifier', 'the interface', ...) end
function bpf.cgroup_skb(...) return hook('bpf.cgroup_skb', 'cgroup_skb', 'the cgroup path', ...) end
setmetatable(bpf, { __call = function(_, fn) return program('socket', fn, {}) end,
                    __metatable = false })

-- ---------------------------------------------------------------------------------------------
-- The probe file's environment.
local function copy(t, leave_out)
  local out = {}
  for k, v in pairs(t) do
    if not (leave_out and leave_out[k]) then out[k] = v end
  end
  return out
end

-- string without dump (bytecode of a function). Pattern functions are C calls the instruction
-- hook cannot interrupt: a backtracking pattern is stopped by the evaluator process's wall-clock
-- and CPU limits instead (lua/isolate.rs).
local ustring = copy(string, { dump = true })
ustring.dump = denied('string.dump')
-- Each pattern call first tells the compiler its line, so one that runs past the limit is
-- reported where it was called.
for _, name in ipairs({ 'find', 'match', 'gmatch', 'gsub' }) do
  local f = string[name]
  ustring[name] = function(...)
    host_mark(probe_line())
    return f(...)
  end
end
local utable = copy(table)
local umath = copy(math)
local ubit = copy(require('bit'))
-- Strings index their methods through the shared string metatable: point it at the copy
-- without dump, and keep the metatable itself out of reach.
local string_mt = getmetatable('')
string_mt.__index = ustring
string_mt.__metatable = false

local modules = { ffi = uffi, bit = ubit, string = ustring, table = utable, math = umath }

-- Once a limit has passed (time, or memory when LuaJIT reports it), nothing may catch it.
local function checked(ok, ...)
  local limit = host_limit()
  if limit then error(limit, 0) end
  if not ok and rawequal((...), 'not enough memory') then error('not enough memory', 0) end
  return ok, ...
end

local function print_(...)
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = rawtostring((select(i, ...))) end
  host_print(concat(parts, '\t'))
end

local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  setmetatable = setmetatable, getmetatable = getmetatable, tonumber = tonumber,
  tostring = tostring, unpack = unpack, _VERSION = _VERSION,
  string = ustring, table = utable, math = umath, bit = ubit, ffi = uffi, bpf = bpf,
  pcall = function(f, ...) return checked(pcall(f, ...)) end,
  xpcall = function(f, h, ...) return checked(xpcall(f, h, ...)) end,
  type = function(v)
    local t = rawtype(v)
    if t == 'table' and rawget(ctype_info, v) then return 'cdata' end
    return t
  end,
  -- Top-level `print` goes to the compiler (shown escaped on stderr), never to the build
  -- script's stdout, where cargo reads directives.
  print = print_,
  collectgarbage = function(what)
    if what == 'count' then return collectgarbage('count') end
    if what == nil or what == 'collect' then return 0 end
    error('collectgarbage("' .. rawtostring(what) .. '")' .. RUNS_IN_BUILD, 2)
  end,
  require = function(name)
    local m = modules[name]
    if m then return m end
    error('require("' .. rawtostring(name) .. '")' .. RUNS_IN_BUILD
      .. '; probe files may require ffi, bit, string, table, math', 2)
  end,
  io = deny_table('io'), os = deny_table('os'), debug = deny_table('debug'),
  jit = deny_table('jit', ': the top level runs interpreted, under a time limit'),
  package = deny_table('package'), coroutine = deny_table('coroutine'),
  dofile = denied('dofile'), loadfile = denied('loadfile'), load = denied('load'),
  loadstring = denied('loadstring'), module = denied('module'), newproxy = denied('newproxy'),
  getfenv = denied('getfenv'), setfenv = denied('setfenv'), gcinfo = denied('gcinfo'),
}
env._G = env

-- Runs the probe's main chunk in `env`. Returns true and its value, or false and a message
-- (a string: error values that are not strings are described, never converted by metamethods).
function L.run(chunk)
  setfenv(chunk, env)
  return xpcall(chunk, function(e)
    local limit = host_limit()
    if limit then return limit end
    local t = rawtype(e)
    if t == 'string' then return e end
    if t == 'userdata' then return rawtostring(e) end -- the host's own errors
    -- error(v) with a value that is not a message: say where, not the value's address.
    local level, info = 2, nil
    repeat
      info = getinfo(level, 'Sl')
      level = level + 1
    until not info or info.what ~= 'C'
    local where = info and (sgsub(info.source, '^@', '') .. ':' .. (info.currentline or 0)) or '?'
    if t == 'number' then return where .. ': ' .. rawtostring(e) end
    return where .. ': error() was called with ' .. (t == 'nil' and 'nil' or ('a ' .. t))
      .. ' instead of a message string'
  end)
end

-- Describes a Lua value for the compiler: kind, payload. Raw access only: no metamethod of
-- the probe file runs here.
local libs = { [ubit] = 'bit', [uffi] = 'ffi', [umath] = 'math', [ustring] = 'string',
               [utable] = 'table', [bpf] = 'bpf' }
function L.describe(v)
  local t = rawtype(v)
  if t == 'nil' or t == 'boolean' or t == 'string' or t == 'number' then return t, v end
  if t == 'table' then
    local info = rawget(ctype_info, v)
    if info then return 'ctype', info.name end
    local rec = rawget(genuine, v)
    if rec and rec.__ljbpf == 'map' then return 'map', rec.id end
    if rawget(libs, v) then return 'lib', libs[v] end
    return 'table', v
  end
  if t == 'cdata' then
    local k = int64_kind(v)
    if k == 'int64_t' then return 'int64', (sgsub(rawtostring(v), 'LL$', '')) end
    if k == 'uint64_t' then return 'uint64', (sgsub(rawtostring(v), 'ULL$', '')) end
    return 'cdata', 'cdata'
  end
  return t, t
end

-- A program function as plain tables: bytecode words, lines, constants, upvalues.
function L.dump(fn)
  local info = funcinfo(fn)
  local out = { params = info.params, stackslots = info.stackslots, linedefined = info.linedefined,
                ins = {}, lines = {}, knum = {}, kgc = {}, uv = {} }
  local pc = 0
  while true do
    local ins = funcbc(fn, pc)
    if not ins then break end
    out.ins[pc + 1] = ins
    out.lines[pc + 1] = funcinfo(fn, pc).currentline or 0
    pc = pc + 1
  end
  for i = 0, info.nconsts - 1 do out.knum[i + 1] = funck(fn, i) end
  for i = 1, info.gcconsts do
    local k = funck(fn, -i)
    local kind, payload = L.describe(k)
    if kind == 'proto' or kind == 'table' then
      -- Tables among a function's constants are templates of table constructors.
      kind, payload = rawtype(k) == 'table' and 'template' or 'proto', ''
    end
    out.kgc[i] = { kind = kind, payload = payload }
  end
  for i = 1, info.upvalues do
    local name, value = getupvalue(fn, i)
    local kind, payload = L.describe(value)
    out.uv[i] = { name = name, kind = kind, payload = payload }
  end
  return out
end

return L
