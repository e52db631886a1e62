//! Shared by the kernel test binaries: a tiny BPF assembler, spec building with ljbpf-build's
//! ELF writer, and the root check.

#![allow(dead_code)]

use std::collections::HashMap;

use ljbpf_runtime::{LineEntry, ProbeSpec, ProgramInfo, ProgramKind};

/// The compiler's ELF writer, from the crate both sides share.
pub use ljbpf_core::elf;

pub use elf::{MapReloc, MapSpec, ObjectSpec, ProgramSpec};

// ---------------------------------------------------------------------------------------------
// A tiny BPF assembler (encoding per Documentation/bpf/standardization/instruction-set.rst).
//
//   byte 0: opcode = operation | source | class     byte 1: src_reg << 4 | dst_reg
//   bytes 2-3: offset (i16 LE)                      bytes 4-7: immediate (i32 LE)

pub const BPF_MAP_TYPE_HASH: u32 = 1;

pub const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
pub const HELPER_MAP_UPDATE_ELEM: i32 = 2;
pub const HELPER_GET_CURRENT_PID_TGID: i32 = 14;
pub const HELPER_SKB_LOAD_BYTES: i32 = 26;

#[derive(Clone, Copy)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

#[derive(Default)]
pub struct Asm {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
    pub labels: HashMap<&'static str, usize>,
    pub fixups: Vec<(usize, &'static str)>,
}

impl Asm {
    pub fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn {
            code,
            dst,
            src,
            off,
            imm,
        });
        self
    }
    /// `dst = imm` (BPF_ALU64 | BPF_MOV | BPF_K)
    pub fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.op(0xb7, dst, 0, 0, imm)
    }
    /// `dst = src` (BPF_ALU64 | BPF_MOV | BPF_X)
    pub fn mov(&mut self, dst: u8, src: u8) -> &mut Self {
        self.op(0xbf, dst, src, 0, 0)
    }
    /// `dst += imm` (BPF_ALU64 | BPF_ADD | BPF_K)
    pub fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.op(0x07, dst, 0, 0, imm)
    }
    /// `dst *= imm` (BPF_ALU64 | BPF_MUL | BPF_K)
    pub fn mul_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.op(0x27, dst, 0, 0, imm)
    }
    /// `dst >>= imm` (BPF_ALU64 | BPF_RSH | BPF_K)
    pub fn rsh_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.op(0x77, dst, 0, 0, imm)
    }
    /// `dst = imm64` (BPF_LD | BPF_IMM | BPF_DW), two slots.
    pub fn ld_imm64(&mut self, dst: u8, imm: u64) -> &mut Self {
        self.op(0x18, dst, 0, 0, imm as u32 as i32)
            .op(0, 0, 0, 0, (imm >> 32) as u32 as i32)
    }
    /// `*(u64 *)(dst + off) = src` (BPF_STX | BPF_MEM | BPF_DW)
    pub fn stx_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.op(0x7b, dst, src, off, 0)
    }
    /// `dst = *(u64 *)(src + off)` (BPF_LDX | BPF_MEM | BPF_DW)
    pub fn ldx_dw(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.op(0x79, dst, src, off, 0)
    }
    /// `*(u32 *)(dst + off) = imm` (BPF_ST | BPF_MEM | BPF_W)
    pub fn st_w(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.op(0x62, dst, 0, off, imm)
    }
    /// `if dst != imm goto label` (BPF_JMP | BPF_JNE | BPF_K)
    pub fn jne_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), label));
        self.op(0x55, dst, 0, 0, imm)
    }
    /// `if (s64)dst < imm goto label` (BPF_JMP | BPF_JSLT | BPF_K)
    pub fn jslt_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), label));
        self.op(0xc5, dst, 0, 0, imm)
    }
    /// Exits with 0 unless the current tgid is `tgid` (clobbers r0-r5; keeps r6-r9).
    pub fn only_tgid(&mut self, tgid: u32, tag: &'static str) -> &mut Self {
        self.call(HELPER_GET_CURRENT_PID_TGID)
            .rsh_imm(0, 32)
            .jeq_imm(0, tgid as i32, tag)
            .mov_imm(0, 0)
            .exit()
            .label(tag)
    }
    /// `dst = map` (BPF_LD | BPF_IMM | BPF_DW, src_reg = BPF_PSEUDO_MAP_FD), two slots.
    pub fn ld_map(&mut self, dst: u8, map: usize) -> &mut Self {
        self.relocs.push(MapReloc {
            insn_index: self.insns.len(),
            map,
        });
        self.op(0x18, dst, 1, 0, 0).op(0, 0, 0, 0, 0)
    }
    /// `r0 = ntoh(*(u8 *)(skb->data + imm))` (BPF_LD | BPF_ABS | BPF_B); needs r6 = ctx.
    pub fn ld_abs_b(&mut self, imm: i32) -> &mut Self {
        self.op(0x30, 0, 0, 0, imm)
    }
    /// `r0 = ntohs(*(u16 *)(skb->data + imm))` (BPF_LD | BPF_ABS | BPF_H); needs r6 = ctx.
    pub fn ld_abs_h(&mut self, imm: i32) -> &mut Self {
        self.op(0x28, 0, 0, 0, imm)
    }
    /// `dst = *(u8 *)(src + off)` (BPF_LDX | BPF_MEM | BPF_B)
    pub fn ldx_b(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.op(0x71, dst, src, off, 0)
    }
    /// `*(u32 *)(dst + off) = src` (BPF_STX | BPF_MEM | BPF_W)
    pub fn stx_w(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.op(0x63, dst, src, off, 0)
    }
    /// `*(u64 *)(dst + off) = imm` (BPF_ST | BPF_MEM | BPF_DW)
    pub fn st_dw(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.op(0x7a, dst, 0, off, imm)
    }
    /// `lock *(u64 *)(dst + off) += src` (BPF_STX | BPF_ATOMIC | BPF_DW, imm = BPF_ADD)
    pub fn atomic_add_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.op(0xdb, dst, src, off, 0x00)
    }
    /// `call helper` (BPF_JMP | BPF_CALL)
    pub fn call(&mut self, helper: i32) -> &mut Self {
        self.op(0x85, 0, 0, 0, helper)
    }
    /// `if dst == imm goto label` (BPF_JMP | BPF_JEQ | BPF_K)
    pub fn jeq_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), label));
        self.op(0x15, dst, 0, 0, imm)
    }
    /// `goto label` (BPF_JMP | BPF_JA)
    pub fn ja(&mut self, label: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), label));
        self.op(0x05, 0, 0, 0, 0)
    }
    /// `exit` (BPF_JMP | BPF_EXIT)
    pub fn exit(&mut self) -> &mut Self {
        self.op(0x95, 0, 0, 0, 0)
    }
    pub fn label(&mut self, name: &'static str) -> &mut Self {
        self.labels.insert(name, self.insns.len());
        self
    }
    /// `map[*(u32 *)(r10 - 4)] += 1`, creating the entry: lookup, atomic add, or update.
    /// Clobbers r0-r5; `tag` keeps labels unique.
    pub fn count_key_at_fp4(&mut self, map: usize, tag: &'static [&'static str; 2]) -> &mut Self {
        let [init, done] = *tag;
        self.ld_map(1, map)
            .mov(2, 10)
            .add_imm(2, -4)
            .call(HELPER_MAP_LOOKUP_ELEM)
            .jeq_imm(0, 0, init)
            .mov_imm(1, 1)
            .atomic_add_dw(0, 0, 1)
            .ja(done)
            .label(init)
            .st_dw(10, -16, 1)
            .ld_map(1, map)
            .mov(2, 10)
            .add_imm(2, -4)
            .mov(3, 10)
            .add_imm(3, -16)
            .mov_imm(4, 0) // BPF_ANY
            .call(HELPER_MAP_UPDATE_ELEM)
            .label(done)
    }
    pub fn finish(&mut self) -> (Vec<u8>, Vec<MapReloc>) {
        for &(at, label) in &self.fixups {
            let target = self.labels[label];
            self.insns[at].off = i16::try_from(target as isize - at as isize - 1).expect("jump");
        }
        let mut code = Vec::with_capacity(self.insns.len() * 8);
        for insn in &self.insns {
            code.push(insn.code);
            code.push(insn.src << 4 | insn.dst);
            code.extend_from_slice(&insn.off.to_le_bytes());
            code.extend_from_slice(&insn.imm.to_le_bytes());
        }
        (code, std::mem::take(&mut self.relocs))
    }
}

// ---------------------------------------------------------------------------------------------
// Building specs

pub struct Prog {
    pub name: &'static str,
    pub section: &'static str,
    pub kind: ProgramKind,
    pub asm: Asm,
    pub lines: &'static [LineEntry],
}

pub fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

/// Writes the ELF and leaks everything into a `&'static ProbeSpec`.
pub fn spec(name: &'static str, maps: Vec<MapSpec>, progs: Vec<Prog>) -> &'static ProbeSpec {
    let mut programs = Vec::new();
    let mut infos = Vec::new();
    for mut prog in progs {
        let (code, map_relocs) = prog.asm.finish();
        infos.push(ProgramInfo {
            name: prog.name,
            kind: prog.kind,
            insns: (code.len() / 8) as u32,
            stack_bytes: 16,
            lines: prog.lines,
            relocs: &[],
        });
        programs.push(ProgramSpec {
            name: prog.name.into(),
            section: prog.section.into(),
            code,
            map_relocs,
            func: None,
            lines: Vec::new(),
        });
    }
    let map_names = maps
        .iter()
        .map(|m| &*Box::leak(m.name.clone().into_boxed_str()))
        .collect();
    let elf = elf::write_object(&ObjectSpec {
        license: "GPL".into(),
        maps,
        programs,
        btf: ljbpf_core::btf::Btf::new(),
    })
    .expect("write elf");
    Box::leak(Box::new(ProbeSpec {
        name,
        elf: leak(elf),
        programs: leak(infos),
        maps: leak(map_names),
        requires: &[],
    }))
}

pub fn hash_map(name: &str, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type: BPF_MAP_TYPE_HASH,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
        key_type: None,
        value_type: None,
    }
}

/// Whether kernel tests can run; prints why not, or panics under `LJBPF_REQUIRE_KERNEL=1`.
/// Any map definition.
pub fn map(name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
        key_type: None,
        value_type: None,
    }
}

/// A tracepoint program `name` on `category/event`.
pub fn tracepoint(
    name: &'static str,
    category: &'static str,
    event: &'static str,
    asm: Asm,
) -> Prog {
    Prog {
        name,
        section: Box::leak(format!("tracepoint/{category}/{event}").into_boxed_str()),
        kind: ProgramKind::Tracepoint {
            category: category.into(),
            name: event.into(),
        },
        asm,
        lines: &[],
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: u32) {
    // SAFETY: cpu_set_t is plain old data; CPU_SET and sched_setaffinity get valid pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        let ret = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            ret,
            0,
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Calls getpid() `n` times.
pub fn getpid_n(n: usize) {
    for _ in 0..n {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
    }
}

/// The calling thread's id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

pub fn kernel(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: needs root, and LJBPF_REQUIRE_KERNEL=1 forbids skipping");
    }
    eprintln!("skipping {test}: needs root to load BPF programs");
    false
}
