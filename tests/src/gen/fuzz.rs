//! Robustness fuzzing: random probe files that must compile or be rejected cleanly, and load.

use std::fmt::Write as _;

use super::*;

/// How a fuzzed probe file fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Compiled and every program passed the verifier.
    Verified,
    /// The compiler gave diagnostics (and none of them is an internal error).
    Rejected,
    /// Compiled, but the verifier rejected a program: a compiler defect.
    VerifierRejected(String),
    /// The compiler panicked: a defect.
    Panic(String),
    /// A diagnostic says "internal error": a defect.
    InternalError(String),
    /// The evaluator process ended abnormally (a signal, the system call filter, a file
    /// write, its processor-time limit): a defect, since the files the fuzzer makes stay
    /// within the memory limit.
    Crash(String),
    /// No answer within [`HANG_SECS`], or the evaluator had to be killed by the wall clock
    /// because the time limit inside Lua did not stop it: a defect.
    Hang(String),
    /// Rejected by the top level's own time limit (a mutation made an endless loop): a
    /// correct answer, counted apart because each costs seconds.
    TimeLimited,
    /// Compiled; the verifier was not consulted (not root).
    CompiledUnchecked,
}

/// Counts of a fuzz run.
#[derive(Clone, Debug, Default)]
pub struct FuzzStats {
    pub tried: usize,
    pub compiled: usize,
    pub verified: usize,
    pub rejected_by_compiler: usize,
    pub rejected_by_verifier: usize,
    pub panics: usize,
    pub internal_errors: usize,
    pub crashes: usize,
    pub hangs: usize,
    pub time_limited: usize,
}

impl FuzzStats {
    pub fn add(&mut self, v: &Verdict) {
        self.tried += 1;
        match v {
            Verdict::Verified => {
                self.compiled += 1;
                self.verified += 1;
            }
            Verdict::CompiledUnchecked => self.compiled += 1,
            Verdict::Rejected => self.rejected_by_compiler += 1,
            Verdict::VerifierRejected(_) => {
                self.compiled += 1;
                self.rejected_by_verifier += 1;
            }
            Verdict::Panic(_) => self.panics += 1,
            Verdict::InternalError(_) => {
                self.rejected_by_compiler += 1;
                self.internal_errors += 1;
            }
            Verdict::Crash(_) => self.crashes += 1,
            Verdict::Hang(_) => self.hangs += 1,
            Verdict::TimeLimited => {
                self.rejected_by_compiler += 1;
                self.time_limited += 1;
            }
        }
    }

    /// Adds another run's counts.
    pub fn merge(&mut self, o: &FuzzStats) {
        self.tried += o.tried;
        self.compiled += o.compiled;
        self.verified += o.verified;
        self.rejected_by_compiler += o.rejected_by_compiler;
        self.rejected_by_verifier += o.rejected_by_verifier;
        self.panics += o.panics;
        self.internal_errors += o.internal_errors;
        self.crashes += o.crashes;
        self.hangs += o.hangs;
        self.time_limited += o.time_limited;
    }

    pub fn defects(&self) -> usize {
        self.rejected_by_verifier + self.panics + self.internal_errors + self.crashes + self.hangs
    }
}

impl std::fmt::Display for FuzzStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tried {}, compiled {}, verified {}, rejected-by-compiler {}, rejected-by-verifier {}, \
             panics {}, internal errors {}, crashes {}, hangs {} (stopped by the time limit {})",
            self.tried,
            self.compiled,
            self.verified,
            self.rejected_by_compiler,
            self.rejected_by_verifier,
            self.panics,
            self.internal_errors,
            self.crashes,
            self.hangs,
            self.time_limited
        )
    }
}

pub(crate) fn is_c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Problems of generated bindings that rustc would report: they must parse, and no two items
/// of one namespace (structs, statics, `Probe` methods) may share a name, nor may a struct take
/// the name of a type the bindings use.
pub fn bindings_problems(bindings: &str) -> Option<String> {
    let file = match syn::parse_file(bindings) {
        Ok(f) => f,
        Err(e) => return Some(format!("bindings do not parse: {e}")),
    };
    let mut types = std::collections::BTreeSet::new();
    let mut values = std::collections::BTreeSet::new();
    let mut methods = std::collections::BTreeSet::new();
    let mut dup = None;
    for item in &file.items {
        match item {
            syn::Item::Struct(s) => {
                let name = s.ident.to_string();
                if !types.insert(name.clone()) {
                    dup = Some(format!("struct {name} twice"));
                }
            }
            syn::Item::Static(s) if !values.insert(s.ident.to_string()) => {
                dup = Some(format!("static {} twice", s.ident));
            }
            syn::Item::Impl(i) => {
                for it in &i.items {
                    if let syn::ImplItem::Fn(f) = it {
                        let key = (quote_path(&i.self_ty), f.sig.ident.to_string());
                        if !methods.insert(key.clone()) {
                            dup = Some(format!("method {}::{} twice", key.0, key.1));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for t in [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "Result", "Vec", "Default",
    ] {
        if types.contains(t) {
            dup = Some(format!("struct {t} shadows a type the bindings use"));
        }
    }
    dup.map(|d| format!("bindings declare {d}"))
}

fn quote_path(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::"),
        _ => "?".into(),
    }
}

/// Compiles `source` (bytes: Lua files need not be UTF-8) and, if `kernel`, loads it into the
/// verifier.
pub fn fuzz_one(name: &str, source: &[u8], kernel: bool) -> Verdict {
    let start = std::time::Instant::now();
    let compiled = compile_caught(name, source, &ljbpf_build::Options::default());
    let took = start.elapsed();
    let verdict = judge(compiled, kernel);
    // The compiler's answer, not the kernel's verification, is what must come in time.
    if took.as_secs() >= HANG_SECS {
        return Verdict::Hang(format!(
            "no answer from the compiler for {took:.1?}: {verdict:?}"
        ));
    }
    verdict
}

/// The time the compiler may take to answer for one probe file (each answer within 10 s
/// wall on these machines).
pub const HANG_SECS: u64 = 10;

/// How the evaluator process's abnormal ends read (`ljbpf_build::lua::isolate`); a message of
/// the probe's own cannot start a diagnostic this way after `file:line: error: `.
const CRASHES: &[&str] = &[
    "error: evaluating the probe file crashed",
    "error: evaluating the probe file ended with signal",
    "error: evaluating the probe file was stopped by the build-time sandbox",
    "error: evaluating the probe file tried to write a file",
    "error: the top level of the probe file used more than",
];

fn judge(compiled: Result<ljbpf_build::CompiledProbe, (bool, String)>, kernel: bool) -> Verdict {
    let compiled = match compiled {
        Ok(p) => p,
        Err((true, msg)) => return Verdict::Panic(msg),
        Err((false, diags)) => {
            // Our internal errors start their message so; user text quoted in a message may not.
            if diags.contains(": error: internal error") {
                return Verdict::InternalError(diags);
            }
            if CRASHES.iter().any(|c| diags.contains(c)) && !diags.contains("MiB of memory") {
                return Verdict::Crash(diags);
            }
            // The wall clock ended the evaluator: the limit inside Lua did not answer.
            if diags.contains("(last seen at this line; a backtracking string pattern") {
                return Verdict::Hang(diags);
            }
            if diags.contains("ran for more than") {
                return Verdict::TimeLimited;
            }
            return Verdict::Rejected;
        }
    };
    if let Some(problem) = bindings_problems(&compiled.bindings) {
        return Verdict::InternalError(format!("{problem}\n{}", compiled.bindings));
    }
    if !kernel {
        return Verdict::CompiledUnchecked;
    }
    let spec = ljbpf_cli::spec(&compiled);
    match ljbpf_runtime::check(spec) {
        Ok(rows) => {
            // A kernel without BPF trampolines refuses fentry/fexit before verifying them: that
            // says nothing about the code (the kernel matrix verifies those programs).
            let bad: Vec<String> = rows
                .into_iter()
                .filter_map(|r| match r.verdict {
                    Ok(_) | Err(ljbpf_runtime::Error::NoTrampoline { .. }) => None,
                    Err(e) => Some(format!("{}: {e}", r.name)),
                })
                .collect();
            if bad.is_empty() {
                Verdict::Verified
            } else {
                Verdict::VerifierRejected(format!(
                    "{}\nlisting:\n{}",
                    bad.join("\n"),
                    compiled.listing
                ))
            }
        }
        // A tracepoint category or name this kernel lacks (a mutated `bpf.tracepoint` string):
        // the compiler cannot know the loading kernel's tracepoints, so it compiles them.
        Err(ljbpf_runtime::Error::NoTracepoint { .. }) => Verdict::CompiledUnchecked,
        Err(e) => {
            let mut message = format!("object does not load: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let _ = write!(message, ": {cause}");
                source = cause.source();
            }
            // Name what the kernel most likely refused.
            for map in &compiled.maps {
                if !is_c_identifier(&map.name) {
                    let _ = write!(message, "\n[bad-name] map name {:?}", map.name);
                }
                if map.kind.keys() == ljbpf_build::core::map::Keys::Index {
                    let size = map.key.size();
                    if size != 4 {
                        let _ = write!(
                            message,
                            "\n[array-key] {} map {} has a {size}-byte key",
                            map.kind, map.name
                        );
                    }
                }
            }
            Verdict::VerifierRejected(message)
        }
    }
}

/// The corpus files (name, text) used as mutation seeds.
pub fn corpus() -> Vec<(String, String)> {
    let dir = crate::root().join("corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .filter_map(|p| {
                    let text = std::fs::read_to_string(&p).ok()?;
                    Some((p.file_name()?.to_string_lossy().into_owned(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Fragments that are (mostly) valid inside a program function.
pub(crate) const FRAGMENTS: &[&str] = &[
    "local v = 1",
    "local v = pkt.ip.ttl",
    "local v = ntoh(pkt.ip.src)",
    "local v = skb.len",
    "local v = time()",
    "local v = pid_tgid()",
    "local v = 1LL",
    "local v = 0xffffffffffffffffULL",
    "local v = nil",
    "local v = true",
    "local v = 'str'",
    "local v = {}",
    "local v = 1.5",
    "local v = 2^70",
    "local v = -0",
    "local v = 1e300",
    "local v = 0/0",
    "v = v + 1",
    "v = v / 0",
    "v = v % 0",
    "v = -v",
    "v = bit.lshift(v, 70)",
    "v = v .. 'x'",
    "v = #v",
    "v = v()",
    "v = v.field",
    "v = v[1]",
    "v = not v",
    "v = v and 1 or 2",
    "v = ffi.new('uint8_t[16]')",
    "v = ffi.cast('uint32_t', v)",
    "if v then return 1 end",
    "if v == nil then return 0 end",
    "while v do v = nil end",
    "for k = 1, 10 do v = v + k end",
    "for k = 10, 1, -1 do v = v - k end",
    "for k = 1, v do end",
    "repeat v = v + 1 until v > 10",
    "do local q = v end",
    "goto done",
    "::done::",
    "return",
    "return v",
    "return v, v",
    "local a, b, c = 1, 2",
    "local t = m[v]",
    "m[v] = v",
    "m[1] = nil",
    "local t = m[1] if t then xadd(t, 1) end",
    "xadd(v, 1)",
    "print(v)",
    "perf_submit(skb, v)",
    "local s = comm()",
    "local r = load_bytes(0, 4)",
    "v = pkt.ip.tcp.dst_port",
    "pkt[v] = v",
    "pkt.ip.ttl = v",
    "pkt.ip.udp.dst_port = hton(v)",
    "if pkt.ip.udp.data(0, 3) == 'abc' then return XDP_DROP end",
    "return TC_ACT_SHOT",
    "return redirect(v, 0)",
    "v = ctx.ingress_ifindex",
    "v = pkt.ip6.dst_lo",
    "v = pkt.eth.nonexistent",
    "v = math.log2(v)",
    "v = hton(v)",
    "v = ntoh(v, 16)",
    "v = rand()",
    "v = cpu()",
    "v = uid_gid()",
    "v = stack_id(v)",
    "v = select('#', v)",
    "v = string.len('x')",
    "v = ...",
    "local function g() end",
    "error('boom')",
    "v = bit.band(v, 0xff, 0xf0)",
    "v = v ~>> 3",
    "v = v < 1LL",
];

/// Declarations for the fuzzed file's top level.
pub(crate) const DECLS: &[&str] = &[
    "local m = bpf.map('array', 16, 'uint32_t', 'uint64_t')",
    "local m = bpf.map('hash', 16, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))",
    "local m = bpf.map('percpu_array', 4)",
    "local m = bpf.map('lru_hash', 0, 'uint64_t', 'uint8_t')",
    "local m = bpf.map('hash', -1)",
    "local m = bpf.map('nonsense', 16)",
    "local m = bpf.map('array', 16, 'struct nope', 'uint64_t')",
    "local m = bpf.map('array', 1.5)",
    "local m = bpf.map('perf_event_array')",
    "local m = bpf.map()",
    "local m = bpf.map('hash', 16, 'uint8_t', 'double')",
    "local m = bpf.map('array', 16, 'uint32_t', 'char[16]')",
    "local m = bpf.map('hash', 65536, 'uint32_t', 'uint64_t')",
    "local m = 42",
    "local m = nil",
    "local m = {}",
    "ffi.cdef[[ struct s_t { uint32_t a; uint64_t b; char c[3]; }; ]]\nlocal m = bpf.map('hash', 8, 'struct s_t', 'struct s_t')",
    "ffi.cdef[[ struct broken { ]]\nlocal m = bpf.map('array', 4)",
    "local m = bpf.map('array', 4, ffi.typeof('int8_t'), ffi.typeof('int16_t'))",
    // `ljbpf run`'s display option: fitting, unknown, misfit, misspelled key, not a table.
    "local m = bpf.map('array', 64, 'uint32_t', 'uint64_t', { show = 'log2' })",
    "local m = bpf.map('hash', 16, 'uint32_t', 'uint64_t', { show = 'lgo2' })",
    "local m = bpf.map('ringbuf', 4096, 'uint32_t', 'uint32_t', { show = 'stacks' })",
    "local m = bpf.map('hash', 16, 'uint32_t', 'uint64_t', { shwo = 'table', show = 'hide' })",
    "local m = bpf.map('hash', 16, 'uint32_t', 'uint64_t', 'log2')",
    "local m = bpf.map('array', 4, 'uint32_t', 'uint64_t', { show = 7 })",
];

/// Program declarations; `F` stands for the function.
pub(crate) const PROGRAM_DECLS: &[&str] = &[
    "bpf.socket(F)",
    "bpf.socket('lo', F)",
    "bpf(F)",
    "bpf.tracepoint('raw_syscalls/sys_enter', F)",
    "bpf.tracepoint('sched/sched_switch', F)",
    "bpf.tracepoint('no/such', F)",
    "bpf.tracepoint('malformed', F)",
    "bpf.kprobe('do_sys_open', F)",
    "bpf.kprobe('myprobe:do_sys_open', F, true)",
    "bpf.uprobe('/bin/sh:main', F)",
    "bpf.uprobe('nocolon', F)",
    "bpf.raw_tracepoint('sys_enter', F)",
    "bpf.raw_tracepoint('sched/sched_switch', F)",
    "bpf.tp_btf('sched_switch', F)",
    "bpf.tp_btf('no_such_event', F)",
    "bpf.fentry('do_sys_openat2', F)",
    "bpf.fexit('do_sys_openat2', F)",
    "bpf.fentry('no_such_function', F)",
    "bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 99 }, F)",
    "bpf.perf_event({ config = 'nope', period = 0 }, F)",
    "bpf.perf_event(F)",
    "bpf.xdp(F)",
    "bpf.xdp('eth0', F)",
    "bpf.tc(F)",
    "bpf.tc('eth0', 'egress', F)",
    "bpf.tc(nil, 'sideways', F)",
    "bpf.xdp(42, F)",
    "bpf.socket()",
    "bpf.socket(42)",
    "bpf.tracepoint(F)",
    "F",
];

/// A random probe file for the robustness fuzzer (bytes: some are not UTF-8).
pub fn fuzz_source(rng: &mut Rng, corpus: &[(String, String)]) -> Vec<u8> {
    match rng.below(12) {
        // A valid generated program (sometimes huge).
        0 | 1 => {
            let p = Program::generate(rng);
            if rng.chance(1, 4) {
                let many: Vec<Program> = (0..2 + rng.below(6))
                    .map(|_| Program::generate(rng))
                    .collect();
                probe_file(&many).into_bytes()
            } else {
                p.probe_source().into_bytes()
            }
        }
        // Fragments in random declarations.
        2..=4 => fragment_file(rng).into_bytes(),
        // A huge function.
        5 => huge_file(rng).into_bytes(),
        // Top-level code: the description API, hostile and careless statements.
        6 | 7 => top_level_file(rng),
        // Names from Rust keywords and colliding sets, bytes that are not UTF-8.
        10 | 11 => names_file(rng),
        // Byte mutations of a corpus file or a generated program.
        _ => {
            let base = if !corpus.is_empty() && rng.chance(2, 3) {
                rng.pick(corpus).1.clone()
            } else {
                Program::generate(rng).probe_source()
            };
            mutate(rng, &base)
        }
    }
}

/// Top-level statements: the description API used right and wrong, values programs read as
/// upvalues, and escape attempts (each must end in an answer, never a panic, crash or hang).
/// Loops that run into the time limit are left out: each would cost seconds.
pub(crate) const TOP_LEVEL: &[&str] = &[
    "local t = {} for i = 1, 10 do t[i] = i end",
    "local s = string.rep('x', 100) .. '\\255'",
    "ffi.cdef[[ struct q_t { uint8_t a; uint32_t b:3; uint64_t c; }; ]]",
    "ffi.cdef[[ enum { QV = 7 }; static const int QC = 3; ]]",
    "ffi.cdef[[\nstruct r_t {\n  uint32_t a\n};\n]]",
    "ffi.cdef[[ struct q_t { uint8_t dup; }; ]]",
    "ffi.cdef(42)",
    "ffi.cdef('struct ' .. string.rep('a', 300) .. ' { int x; };')",
    "local ok, e = pcall(ffi.cdef, 'struct {')",
    "local n = ffi.sizeof('uint64_t') + (ffi.sizeof('struct q_t') or 0)",
    "local o = ffi.offsetof('struct q_t', 'b')",
    "local ct = ffi.typeof('struct q_t')",
    "local ct = ffi.typeof('$ *', ffi.typeof('uint8_t'))",
    "local ct = ffi.typeof('$[4]', ffi.typeof('char[2]'))",
    "local ct = ffi.typeof(1LL)",
    "local c = ffi.C.QV + ffi.C.QC",
    "local c = ffi.C.getpid()",
    "local x = ffi.new('uint64_t', 7) + ffi.cast('int64_t', -1)",
    "local x = ffi.new('struct q_t')",
    "local x = ffi.cast('int *', 0)",
    "local b = ffi.istype('int64_t', 1LL) and ffi.abi('le')",
    "print(ffi.typeof('uint32_t'), 1LL, {}, nil, print)",
    "print(('cargo:rustc-env=X=1\\n'):rep(3))",
    "pcall(error, {})",
    "local ok, j = pcall(function () return jit.util end)",
    "local ok = pcall(require, 'jit.util')",
    "setmetatable({}, { __gc = print })",
    "local T = setmetatable({ a = 1 }, { __index = function () return 2 end, __pairs = error })",
    "local K = { a = 1, b = 'x', c = { d = 2, e = { f = 3 } }, [1] = 4, [true] = 5 }",
    "local K = { f = function () end, m = bpf, s = string }",
    "string.find('aaa', 'a-b')",
    "local g = ('x'):gsub('x', '%0%0')",
    "collectgarbage('count') collectgarbage()",
    "collectgarbage('stop')",
    "error('x')",
    "error({})",
    "error(nil)",
    "error(setmetatable({}, { __tostring = function () return 'y' end }))",
    "bpf = nil",
    "ffi = {}",
    "string.format = nil",
    "type = nil",
    "pairs = error",
    "getmetatable('').__index = {}",
    "local ud = newproxy(true)",
    "coroutine.wrap(print)()",
    "load('return 1')",
    "local d = string.dump(print)",
    "io.write('x')",
    "os.exit(1)",
    "debug.sethook()",
    "require('os')",
    "local m2 = bpf.map('hash', 2 ^ 32 - 1)",
    "local m2 = bpf.map('hash', 16, 'double', 'void')",
    "local m2 = bpf.map('hash', 16, ffi.typeof('struct q_t'), 'struct q_t[2]')",
    "local m2 = setmetatable(bpf.map('array', 4), {})",
    "rawset(bpf, 'map', print)",
    "local big = {} for i = 1, 2000 do big['k' .. i] = i end",
    "local s2 = string.rep('ab', 2 ^ 20)",
];

/// A generated file with random top-level statements before and between its declarations;
/// programs sometimes read what they define (`t`, `K`, `T`, `ct`, `n`, `c`, `s`).
pub(crate) fn top_level_file(rng: &mut Rng) -> Vec<u8> {
    let base = fragment_file(rng);
    let mut out = String::new();
    for (i, line) in base.lines().enumerate() {
        if i > 0 && !line.starts_with(' ') && !line.starts_with('}') && rng.chance(1, 2) {
            for _ in 0..1 + rng.below(4) {
                out.push_str(TOP_LEVEL[rng.below(TOP_LEVEL.len())]);
                out.push('\n');
            }
        }
        if line.starts_with("  local v = ") && rng.chance(1, 3) {
            let _ = writeln!(
                out,
                "  local v = {}",
                rng.pick(&[
                    "K.a",
                    "K.c.d",
                    "#s",
                    "T.a",
                    "n",
                    "c",
                    "t[3]",
                    "ffi.sizeof(ct)",
                    "K.b"
                ])
            );
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if rng.chance(1, 3) {
        return mutate(rng, &out);
    }
    out.into_bytes()
}

pub(crate) fn fragment_file(rng: &mut Rng) -> String {
    let mut s = String::from("local ffi = require('ffi')\n");
    let decl: &str = DECLS[rng.below(DECLS.len())];
    s.push_str(decl);
    s.push('\n');
    let programs = 1 + rng.below(3);
    let mut names = Vec::new();
    for n in 0..programs {
        let mut body = String::new();
        let arg = *rng.pick(&["ctx", "skb", "", "ctx, extra"]);
        let _ = writeln!(body, "function ({arg})");
        let len = rng.below(12);
        let _ = writeln!(
            body,
            "  local v = {}",
            rng.pick(&["0", "pkt.ip.ttl", "1LL", "nil"])
        );
        for _ in 0..len {
            let depth = 1 + rng.below(2);
            let line = *rng.pick(FRAGMENTS);
            if rng.chance(1, 6) {
                let _ = writeln!(body, "{:depth$}if v then {line} end", "");
            } else {
                let _ = writeln!(body, "{:depth$}{line}", "");
            }
        }
        if rng.chance(3, 4) {
            let _ = writeln!(
                body,
                "  return {}",
                rng.pick(&["0", "1", "v", "nil", "true"])
            );
        }
        body.push_str("end");
        let decl = rng.pick(PROGRAM_DECLS).replace('F', &body);
        let _ = writeln!(s, "local p{n} = {decl}");
        names.push(format!("p{n}"));
    }
    s.push_str("return {\n");
    if rng.chance(3, 4) {
        s.push_str("  m = m,\n");
    }
    for name in names {
        let _ = writeln!(s, "  {name} = {name},");
    }
    if rng.chance(1, 8) {
        s.push_str("  junk = 42,\n");
    }
    s.push_str("}\n");
    s
}

pub(crate) fn huge_file(rng: &mut Rng) -> String {
    let mut s = String::from(
        "local out = bpf.map('array', 4, 'uint32_t', 'uint64_t')\nreturn {\n  out = out,\n  f = bpf.socket(function (skb)\n    local v = pkt.ip.ttl\n",
    );
    let lines = 100 + rng.below(1500);
    let kind = rng.below(4);
    for n in 0..lines {
        match kind {
            0 => {
                let _ = writeln!(s, "    v = v + {}", n % 7);
            }
            1 => {
                let _ = writeln!(s, "    local l{n} = v + {n}");
            }
            2 => {
                let _ = writeln!(s, "    if v == {n} then v = v * 3 end");
            }
            _ => {
                let _ = writeln!(s, "    out[{}] = v + {n}", n % 4);
            }
        }
    }
    s.push_str("    return v\n  end),\n}\n");
    s
}

/// Map, program, struct and field names: Rust keywords (raw or not), names of generated items,
/// sets that collide with each other, and ordinary ones.
pub(crate) const NAMES: &[&str] = &[
    "type",
    "fn",
    "match",
    "gen",
    "try",
    "async",
    "in",
    "let",
    "const",
    "pub",
    "loop",
    "impl",
    "self",
    "Self",
    "crate",
    "super",
    "_",
    "",
    "foo",
    "FOO",
    "Foo",
    "load",
    "inner",
    "attach_all",
    "open",
    "OpenProbe",
    "comm_str",
    "all",
    "attach_foo",
    "test_run_foo",
    "x",
    "_pad0",
    "bytes",
    "r",
    "m",
    "p",
];

/// C struct names, some of which the bindings use themselves.
pub(crate) const STRUCT_NAMES: &[&str] = &[
    "s", "Probe", "fn", "type", "Self", "self", "Default", "Result", "u32", "Vec", "a",
];

/// A probe file whose names come from [`NAMES`] and [`STRUCT_NAMES`], with bytes that are not
/// UTF-8 in a comment, in string constants and in print formats.
pub fn names_file(rng: &mut Rng) -> Vec<u8> {
    let mut s: Vec<u8> = Vec::new();
    if rng.chance(1, 2) {
        s.extend_from_slice(b"-- caf\xe9 \xff\xfe\n");
    }
    let sname = *rng.pick(STRUCT_NAMES);
    let mut cdef = format!("ffi.cdef[[ struct {sname} {{ uint8_t lead;");
    let mut fields: Vec<&str> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let f = *rng.pick(NAMES);
        // Empty and repeated field names are C errors of their own: keep to other cases.
        if !f.is_empty() && !fields.contains(&f) && f != "lead" {
            fields.push(f);
            cdef.push_str(&format!(" uint32_t {f};"));
        }
    }
    cdef.push_str(" }; ]]\n");
    if rng.chance(1, 4) {
        let t = rng.pick(STRUCT_NAMES);
        cdef.push_str(&format!(
            "ffi.cdef[[ typedef struct {{ uint64_t q; }} {t}; ]]\n"
        ));
    }
    s.extend_from_slice(cdef.as_bytes());
    // A byte that is not UTF-8 inside a C declaration (once an internal error while reading
    // declarations; now an error at its line).
    if rng.chance(1, 6) {
        s.extend_from_slice(b"ffi.cdef[[ struct odd_t { uint32_t \xe9id; }; ]]\n");
    }
    let mut entries = Vec::new();
    // The variable each program reads a map through: its upvalue name names an unreturned map.
    let mut vars: Vec<String> = Vec::new();
    let maps = rng.below(3);
    for i in 0..maps {
        let value = if rng.chance(1, 2) {
            format!("'struct {sname}'")
        } else {
            "'uint64_t'".to_string()
        };
        let decl = format!("local m{i} = bpf.map('hash', 8, 'uint32_t', {value})\n");
        s.extend_from_slice(decl.as_bytes());
        let name = *rng.pick(NAMES);
        // A Lua local can hold only a Lua name; the others are returned under a key.
        let lua_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !matches!(name, "in" | "local" | "end" | "function" | "return");
        if lua_name && rng.chance(1, 2) {
            // Named after the upvalue that holds it.
            s.extend_from_slice(format!("local {name} = m{i}\n").as_bytes());
            vars.push(name.to_string());
        } else {
            entries.push(format!("  [{name:?}] = m{i},\n"));
            vars.push(format!("m{i}"));
        }
    }
    for k in 0..1 + rng.below(3) {
        let name = *rng.pick(NAMES);
        s.extend_from_slice(format!("local p{k} = bpf.socket(function (skb)\n").as_bytes());
        for (i, var) in vars.iter().enumerate() {
            s.extend_from_slice(format!("  local v{i} = {var}[1]\n").as_bytes());
        }
        match rng.below(3) {
            0 => {
                s.extend_from_slice(b"  if pkt.ip.udp.data(0, 2) == '\xff\xfe' then return 1 end\n")
            }
            1 => s.extend_from_slice(b"  print('\xe9t\xe9 %d', 1)\n"),
            _ => s.extend_from_slice(
                b"  if pkt.ip.udp.data(0, 2) == '\\255\\254' then return 1 end\n",
            ),
        }
        s.extend_from_slice(b"  return 0\nend)\n");
        entries.push(format!("  [{name:?}] = p{k},\n"));
    }
    s.extend_from_slice(b"return {\n");
    for e in entries {
        s.extend_from_slice(e.as_bytes());
    }
    s.extend_from_slice(b"}\n");
    s
}

/// Random byte-level edits of `text`; the result need not be UTF-8.
pub fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    const TOKENS: &[&str] = &[
        "(", ")", "[", "]", "{", "}", "end", "then", "local", "nil", "1LL", "0.5", "..", "#",
        "not", "and", "or", "==", "~=", "<", ">>", "~", "%", "/", "0", "-1", "pkt", "skb", "ctx",
        "bpf", "function", "return", "ffi", "'", "\"", "\n", "--", "[[", "]]", "xadd", "bit.band",
        ",", ";", ":", "=", "if", "while", "for", "goto", "::l::", "\\", "\0", "\u{ff}",
    ];
    let edits = 1 + rng.below(6);
    for _ in 0..edits {
        if bytes.is_empty() {
            bytes.push(b'x');
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => {
                bytes.remove(at);
            }
            1 => {
                let len = (1 + rng.below(40)).min(bytes.len() - at);
                bytes.drain(at..at + len);
            }
            2 => bytes[at] = rng.next_u64() as u8,
            3 => {
                // Copy a span elsewhere.
                let len = (1 + rng.below(60)).min(bytes.len() - at);
                let span: Vec<u8> = bytes[at..at + len].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, span);
            }
            _ => {
                let tok = rng.pick(TOKENS).as_bytes();
                bytes.splice(at..at, tok.iter().copied());
            }
        }
    }
    bytes
}
