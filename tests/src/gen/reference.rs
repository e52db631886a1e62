//! Inputs, observations, and the LuaJIT reference runner.

use mlua::{Function, Lua, Table};

use super::*;

/// One set of inputs: packet fields and the initial contents of `m` and `w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub a: i32,
    pub b: i32,
    pub c: u32,
    pub d: u8,
    pub x: u64,
    pub m: [u64; MAP_LEN],
    pub w: [u32; MAP_LEN],
}

pub(crate) const INTERESTING_32: &[u32] = &[
    0,
    1,
    2,
    3,
    7,
    31,
    32,
    63,
    64,
    255,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xffff_fff9,
    0xffff_fffe,
    0xffff_ffff,
];

pub(crate) const INTERESTING_64: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    63,
    64,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    1 << 63,
    (1 << 63) + 1,
    u64::MAX,
    u64::MAX - 6,
];

impl Input {
    pub fn generate(rng: &mut Rng) -> Input {
        let v32 = |rng: &mut Rng| -> u32 {
            if rng.chance(1, 2) {
                *rng.pick(INTERESTING_32)
            } else if rng.chance(1, 2) {
                rng.below(20) as u32
            } else {
                rng.next_u64() as u32
            }
        };
        let a = v32(rng) as i32;
        let b = v32(rng) as i32;
        let c = v32(rng);
        let d = v32(rng) as u8;
        let v64 = |rng: &mut Rng| -> u64 {
            if rng.chance(1, 2) {
                *rng.pick(INTERESTING_64)
            } else if rng.chance(1, 3) {
                rng.below(20) as u64
            } else {
                rng.next_u64()
            }
        };
        let x = v64(rng);
        let mut m = [0u64; MAP_LEN];
        for v in &mut m {
            *v = v64(rng);
        }
        let mut w = [0u32; MAP_LEN];
        for v in &mut w {
            *v = v32(rng);
        }
        Input {
            a,
            b,
            c,
            d,
            x,
            m,
            w,
        }
    }

    /// The frame for `BPF_PROG_TEST_RUN`: 14 bytes the kernel strips, then an Ethernet header,
    /// IPv4 (ihl 5, TCP) and TCP, with `x` where an IPv6 header's `dst_lo` would be.
    pub fn packet(&self) -> Vec<u8> {
        let mut p = vec![0u8; 14 + 14 + 60];
        let eth = 14;
        p[eth + 12] = 0x08; // type 0x0800
        let ip = eth + 14;
        p[ip] = 0x45;
        p[ip + 8] = self.d;
        p[ip + 9] = 6;
        p[ip + 12..ip + 16].copy_from_slice(&((self.a as u32) ^ 0x8000_0000).to_be_bytes());
        p[ip + 16..ip + 20].copy_from_slice(&((self.b as u32) ^ 0x8000_0000).to_be_bytes());
        let tcp = ip + 20;
        p[tcp + 4..tcp + 8].copy_from_slice(&self.c.to_be_bytes());
        p[ip + 32..ip + 40].copy_from_slice(&self.x.to_be_bytes());
        p
    }

    /// As a Lua comment, for minimised probe files.
    pub fn describe(&self) -> String {
        format!(
            "a={} b={} c={} d={} x={:#x} m={:x?} w={:x?}",
            self.a, self.b, self.c, self.d, self.x, self.m, self.w
        )
    }
}

/// What one run produced (either side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The low 32 bits of the return value.
    pub ret: u32,
    /// `out` slots; `None` when not written.
    pub out: Vec<Option<u64>>,
    pub m: [u64; MAP_LEN],
    pub w: [u32; MAP_LEN],
}

impl Observed {
    /// Lines describing where `self` (LuaJIT) and `kernel` differ.
    pub fn diff(&self, kernel: &Observed) -> Vec<String> {
        self.diff_with(kernel, "kernel")
    }

    /// Lines describing where `self` (LuaJIT) and `other` (run by `who`) differ.
    pub fn diff_with(&self, kernel: &Observed, who: &str) -> Vec<String> {
        let mut out = Vec::new();
        let show = |v: u64| format!("{v} ({v:#x}, as int64 {})", v as i64);
        if self.ret != kernel.ret {
            out.push(format!(
                "return value: LuaJIT {} , {who} {}",
                self.ret, kernel.ret
            ));
        }
        for (n, (l, k)) in self.out.iter().zip(&kernel.out).enumerate() {
            if l != k {
                let s = |v: &Option<u64>| v.map_or("not written".to_owned(), show);
                out.push(format!("out[{n}]: LuaJIT {}, {who} {}", s(l), s(k)));
            }
        }
        for n in 0..MAP_LEN {
            if self.m[n] != kernel.m[n] {
                out.push(format!(
                    "m[{n}]: LuaJIT {}, {who} {}",
                    show(self.m[n]),
                    show(kernel.m[n])
                ));
            }
            if self.w[n] != kernel.w[n] {
                out.push(format!(
                    "w[{n}]: LuaJIT {}, {who} {}",
                    self.w[n], kernel.w[n]
                ));
            }
        }
        out
    }
}

/// Marks `out` slots the program did not write.
pub(crate) const SENTINEL: u64 = 0x5a5a_1234_dead_beef;

pub(crate) const PRELUDE: &str = r#"
local ffi = require('ffi')
jit.off()
function idiv(p, q)
  if q == 0 then return (p - p) + (q - q) end
  if type(p) == 'number' and type(q) == 'number' then
    -- Exact: fmod is exact and p - fmod(p, q) is a multiple of q.
    return (p - math.fmod(p, q)) / q
  end
  return p / q
end
-- math.log2 in a probe: the largest k with 2^k <= p, p read as an unsigned 64-bit integer
-- (negative numbers and int64 through their two's complement), 0 for 0.
function ilog2(p)
  local u = ffi.cast('uint64_t', type(p) == 'number' and ffi.cast('int64_t', p) or p)
  local k = 0
  while u >= 2ULL do
    u = u / 2ULL
    k = k + 1
  end
  return k
end
function imod(p, q)
  if q == 0 then return p + (q - q) end
  return p % q
end
local function repr(v)
  local t = type(v)
  if t == 'number' then
    if v ~= v or v ~= math.floor(v) then return 'F:' .. tostring(v) end
    if math.abs(v) > 2^53 then return 'X:' .. tostring(v) end
    return string.format('N:%.0f', v)
  elseif t == 'cdata' then
    local s = tostring(v)
    if s:sub(-3) == 'ULL' then return 'U:' .. s:sub(1, -4) end
    if s:sub(-2) == 'LL' then return 'I:' .. s:sub(1, -3) end
    return 'C:' .. s
  end
  return 'T:' .. tostring(v)
end
local function mkmap(ctype, init)
  local n = #init
  local arr = ffi.new(ctype .. '[?]', n)
  for k = 0, n - 1 do arr[k] = init[k + 1] end
  local proxy = setmetatable({}, {
    -- A number key converts to the map's uint32_t key type: modulo 2^32.
    __index = function(_, k)
      if type(k) ~= 'number' or k ~= math.floor(k) then error('bad key ' .. tostring(k)) end
      k = k % 4294967296
      if k >= n then return nil end
      return arr[k]
    end,
    __newindex = function(_, k, v)
      if type(k) ~= 'number' or k ~= math.floor(k) then error('bad key ' .. tostring(k)) end
      k = k % 4294967296
      if k >= n then return end
      arr[k] = v
    end,
  })
  return proxy, arr
end
-- The packet dissector over the test packet (`PKT`, see indexes.rs): `pkt[i]`, `pkt(a, b)`,
-- `pkt + n`. A read outside the packet ends the run like a run-time slice outside it: it
-- raises `END`, and the program returns the kind's default verdict.
local Dissector = {}
local function moved(off) return setmetatable({ off = off }, Dissector) end
local function abort() error(END) end
Dissector.__index = function(self, i)
  local o = rawget(self, 'off') + i
  if o < 0 or o >= #PKT then abort() end
  return PKT:byte(o + 1)
end
Dissector.__add = function(p, n)
  if type(p) == 'number' then p, n = n, p end
  return moved(rawget(p, 'off') + n)
end
Dissector.__call = function(self, a, b)
  local o1, o2 = rawget(self, 'off') + a, rawget(self, 'off') + b
  if o1 < 0 or o2 > #PKT then abort() end
  return PKT:sub(o1 + 1, o2)
end
pkt = moved(0)
function run_case(f, a, b, c, d, xhi, xlo, mhalves, winit, nout, packet)
  PKT = packet
  lpm_reset()
  local x = 0x100000000ULL * xhi + xlo
  local minit = {}
  for k = 1, #mhalves, 2 do minit[#minit + 1] = 0x100000000ULL * mhalves[k] + mhalves[k + 1] end
  local m, marr = mkmap('uint64_t', minit)
  local w, warr = mkmap('uint32_t', winit)
  local outv = {}
  local out = setmetatable({}, {
    __newindex = function(_, k, v) outv[k] = repr(v) end,
    __index = function() error('out is write-only') end,
  })
  local ok, r = pcall(f, a, b, c, d, x, m, w, out)
  -- END: the program ended early (a read or a slice outside the packet; indexes.rs): `Z`,
  -- the kind's default verdict.
  if not ok and r ~= END then return 'E:' .. tostring(r) end
  local res = { ok and repr(r) or 'Z' }
  for k = 0, nout - 1 do res[#res + 1] = outv[k] or 'S' end
  for k = 0, #minit - 1 do res[#res + 1] = repr(marr[k]) end
  for k = 0, #winit - 1 do res[#res + 1] = repr(warr[k]) end
  return table.concat(res, ' ')
end
"#;

/// LuaJIT, set up to run reference functions.
pub struct Reference {
    lua: Lua,
    run_case: Function,
}

impl Default for Reference {
    fn default() -> Self {
        Self::new()
    }
}

impl Reference {
    pub fn new() -> Reference {
        // SAFETY: an unsafe state only to get the ffi library (cdata, ffi arrays); it runs the
        // generator's own code.
        let lua = unsafe { Lua::unsafe_new() };
        lua.load(PRELUDE_INDEXES)
            .exec()
            .expect("reference prelude (indexes)");
        lua.load(PRELUDE).exec().expect("reference prelude");
        lua.load(lpm_prelude())
            .exec()
            .expect("reference prelude (lpm)");
        let run_case = lua.globals().get("run_case").expect("run_case");
        Reference { lua, run_case }
    }

    /// The LuaJIT state.
    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Compiles a program's reference function.
    pub fn function(&self, program: &Program) -> Result<Function, String> {
        self.lua
            .load(program.reference_source())
            .set_name("=reference")
            .eval()
            .map_err(|e| format!("reference does not load: {e}"))
    }

    /// Runs `f` (of `program`) on `input`. An `Err` is a generator defect (LuaJIT raised an
    /// error, a value is inexact or of another type than the generator thinks).
    pub fn run(&self, program: &Program, f: &Function, input: &Input) -> Result<Observed, String> {
        let halves: Vec<u32> = input
            .m
            .iter()
            .flat_map(|v| [(v >> 32) as u32, *v as u32])
            .collect();
        let mtab: Table = self
            .lua
            .create_sequence_from(halves)
            .map_err(|e| e.to_string())?;
        let wtab: Table = self
            .lua
            .create_sequence_from(input.w.iter().copied())
            .map_err(|e| e.to_string())?;
        let reset: Function = self
            .lua
            .globals()
            .get("ix_reset")
            .map_err(|e| e.to_string())?;
        reset.call::<()>(()).map_err(|e| e.to_string())?;
        // The packet as the program sees it (after the 14 bytes the kernel strips).
        let packet = input.packet();
        self.lua
            .globals()
            .set(
                "PKT",
                self.lua
                    .create_string(packet.get(14..).unwrap_or_default())
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        let text: String = self
            .run_case
            .call((
                f.clone(),
                input.a,
                input.b,
                input.c,
                input.d,
                (input.x >> 32) as u32,
                input.x as u32,
                mtab,
                wtab,
                OUT_SLOTS,
                self.lua
                    .create_string(&input.packet()[14..])
                    .map_err(|e| e.to_string())?,
            ))
            .map_err(|e| format!("reference: {e}"))?;
        if let Some(err) = text.strip_prefix("E:") {
            return Err(format!("LuaJIT raised an error: {err}"));
        }
        let fields: Vec<&str> = text.split(' ').collect();
        if fields.len() != 1 + OUT_SLOTS + 2 * MAP_LEN {
            return Err(format!("reference returned {text:?}"));
        }
        let types = program.out_types();
        let value = |field: &str, want: Option<Ty>| -> Result<u64, String> {
            let (tag, digits) = field
                .split_once(':')
                .ok_or_else(|| format!("reference value {field:?}"))?;
            let tag = tag.chars().next().unwrap_or('?');
            if !matches!(tag, 'N' | 'I' | 'U') {
                return Err(format!("reference value {field:?} is not an exact integer"));
            }
            if let Some(want) = want {
                if tag != want.tag() {
                    return Err(format!(
                        "generator typed a value {want:?} but LuaJIT computed {field}"
                    ));
                }
            }
            let n: i128 = digits
                .parse()
                .map_err(|_| format!("reference value {field:?}"))?;
            Ok(n as u64)
        };
        // `Z`: the program ended early (a read, a slice or a run-time slice outside the
        // packet); `T:nil`: it returned nil. Both return the kind's default verdict. An early
        // return (`Shape::MaybeReturn`) gives a number whatever the final return's type.
        let ret = match fields[0] {
            "Z" | "T:nil" => program.hook.default_verdict(),
            f if program.returns_early() => value(f, None)? as u32,
            f => value(f, Some(program.ret.ty()))? as u32,
        };
        let mut out = Vec::with_capacity(OUT_SLOTS);
        for (slot, field) in fields[1..=OUT_SLOTS].iter().enumerate() {
            if *field == "S" {
                out.push(None);
            } else {
                out.push(Some(value(field, types.get(&slot).copied())?));
            }
        }
        let mut m = [0u64; MAP_LEN];
        for (n, field) in fields[1 + OUT_SLOTS..1 + OUT_SLOTS + MAP_LEN]
            .iter()
            .enumerate()
        {
            m[n] = value(field, Some(Ty::U64))?;
        }
        let mut w = [0u32; MAP_LEN];
        for (n, field) in fields[1 + OUT_SLOTS + MAP_LEN..].iter().enumerate() {
            w[n] = value(field, Some(Ty::Num))? as u32;
        }
        Ok(Observed { ret, out, m, w })
    }
}
