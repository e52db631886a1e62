//! Shared by the kernel test binaries: a tiny BPF assembler (over `ljbpf_core::insn`), spec
//! building with the compiler's ELF writer (`ljbpf_core::elf`), and the root check.

#![allow(dead_code)]

use std::collections::HashMap;

pub use ljbpf_core::helper::Helper;
use ljbpf_core::insn::{AluOp, Insn, JmpOp, Label, MapId, RawInsn, Reg, Size, Src};
pub use ljbpf_core::map::MapKind;
use ljbpf_runtime::{LineEntry, ProbeSpec, ProgramInfo, ProgramKind};

/// The compiler's ELF writer, from the crate both sides share.
pub use ljbpf_core::elf;

pub use elf::{MapReloc, MapSpec, ObjectSpec, ProgramSpec};

// ---------------------------------------------------------------------------------------------
// A tiny BPF assembler over the compiler's instruction type: `ljbpf_core::insn` encodes, so the
// tests and the compiler share one encoder; this only names registers by number and lays out
// string labels.

/// Builds one program: instructions with jumps to named labels, laid out by [`Asm::finish`].
#[derive(Default)]
pub struct Asm {
    pub insns: Vec<Insn<Reg>>,
    /// Label name → its number in `Label(n)` jump targets.
    pub names: HashMap<&'static str, u32>,
    /// Label number → index in `insns` of the instruction it marks.
    pub labels: HashMap<u32, usize>,
}

impl Asm {
    pub fn push(&mut self, insn: Insn<Reg>) -> &mut Self {
        self.insns.push(insn);
        self
    }
    fn alu(&mut self, op: AluOp, dst: u8, src: Src<Reg>) -> &mut Self {
        self.push(Insn::Alu64 {
            op,
            dst: Reg(dst),
            src,
        })
    }
    fn target(&mut self, name: &'static str) -> Label {
        let n = self.names.len() as u32;
        Label(*self.names.entry(name).or_insert(n))
    }
    fn jmp_imm(&mut self, op: JmpOp, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        let target = self.target(label);
        self.push(Insn::Jmp {
            op,
            dst: Reg(dst),
            src: Src::Imm(imm),
            target,
        })
    }
    /// `dst = imm`
    pub fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.alu(AluOp::Mov, dst, Src::Imm(imm))
    }
    /// `dst = src`
    pub fn mov(&mut self, dst: u8, src: u8) -> &mut Self {
        self.alu(AluOp::Mov, dst, Src::Reg(Reg(src)))
    }
    /// `dst += imm`
    pub fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.alu(AluOp::Add, dst, Src::Imm(imm))
    }
    /// `dst *= imm`
    pub fn mul_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.alu(AluOp::Mul, dst, Src::Imm(imm))
    }
    /// `dst >>= imm`
    pub fn rsh_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.alu(AluOp::Rsh, dst, Src::Imm(imm))
    }
    /// `dst = imm64`, two slots.
    pub fn ld_imm64(&mut self, dst: u8, imm: u64) -> &mut Self {
        self.push(Insn::LdImm64 {
            dst: Reg(dst),
            imm: imm as i64,
        })
    }
    /// `*(u64 *)(dst + off) = src`
    pub fn stx_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(Insn::Stx {
            size: Size::DW,
            dst: Reg(dst),
            src: Reg(src),
            off,
        })
    }
    /// `dst = *(u64 *)(src + off)`
    pub fn ldx_dw(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(Insn::Ldx {
            size: Size::DW,
            dst: Reg(dst),
            src: Reg(src),
            off,
        })
    }
    /// `*(u32 *)(dst + off) = imm`
    pub fn st_w(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(Insn::St {
            size: Size::W,
            dst: Reg(dst),
            off,
            imm,
        })
    }
    /// `if dst != imm goto label`
    pub fn jne_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.jmp_imm(JmpOp::Jne, dst, imm, label)
    }
    /// `if (s64)dst < imm goto label`
    pub fn jslt_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.jmp_imm(JmpOp::Jslt, dst, imm, label)
    }
    /// Exits with 0 unless the current tgid is `tgid` (clobbers r0-r5; keeps r6-r9).
    pub fn only_tgid(&mut self, tgid: u32, tag: &'static str) -> &mut Self {
        self.call(Helper::GetCurrentPidTgid)
            .rsh_imm(0, 32)
            .jeq_imm(0, tgid as i32, tag)
            .mov_imm(0, 0)
            .exit()
            .label(tag)
    }
    /// `dst = map` (map `map` of the object), two slots, relocated.
    pub fn ld_map(&mut self, dst: u8, map: usize) -> &mut Self {
        self.push(Insn::LdMap {
            dst: Reg(dst),
            map: MapId(map as u32),
        })
    }
    /// `r0 = ntoh(*(u8 *)(skb->data + imm))`; needs r6 = ctx.
    pub fn ld_abs_b(&mut self, imm: i32) -> &mut Self {
        self.push(Insn::LdAbs { size: Size::B, imm })
    }
    /// `r0 = ntohs(*(u16 *)(skb->data + imm))`; needs r6 = ctx.
    pub fn ld_abs_h(&mut self, imm: i32) -> &mut Self {
        self.push(Insn::LdAbs { size: Size::H, imm })
    }
    /// `dst = *(u8 *)(src + off)`
    pub fn ldx_b(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(Insn::Ldx {
            size: Size::B,
            dst: Reg(dst),
            src: Reg(src),
            off,
        })
    }
    /// `*(u32 *)(dst + off) = src`
    pub fn stx_w(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(Insn::Stx {
            size: Size::W,
            dst: Reg(dst),
            src: Reg(src),
            off,
        })
    }
    /// `*(u64 *)(dst + off) = imm`
    pub fn st_dw(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(Insn::St {
            size: Size::DW,
            dst: Reg(dst),
            off,
            imm,
        })
    }
    /// `lock *(u64 *)(dst + off) += src`
    pub fn atomic_add_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(Insn::AtomicAdd {
            size: Size::DW,
            dst: Reg(dst),
            src: Reg(src),
            off,
        })
    }
    /// `call helper`
    pub fn call(&mut self, helper: Helper) -> &mut Self {
        self.push(Insn::Call { helper })
    }
    /// `if dst == imm goto label`
    pub fn jeq_imm(&mut self, dst: u8, imm: i32, label: &'static str) -> &mut Self {
        self.jmp_imm(JmpOp::Jeq, dst, imm, label)
    }
    /// `goto label`
    pub fn ja(&mut self, label: &'static str) -> &mut Self {
        let target = self.target(label);
        self.push(Insn::Ja { target })
    }
    /// `exit`
    pub fn exit(&mut self) -> &mut Self {
        self.push(Insn::Exit)
    }
    /// Marks the next instruction as `name`.
    pub fn label(&mut self, name: &'static str) -> &mut Self {
        let Label(n) = self.target(name);
        self.labels.insert(n, self.insns.len());
        self
    }
    /// `map[*(u32 *)(r10 - 4)] += 1`, creating the entry: lookup, atomic add, or update.
    /// Clobbers r0-r5; `tag` keeps labels unique.
    pub fn count_key_at_fp4(&mut self, map: usize, tag: &'static [&'static str; 2]) -> &mut Self {
        let [init, done] = *tag;
        self.ld_map(1, map)
            .mov(2, 10)
            .add_imm(2, -4)
            .call(Helper::MapLookupElem)
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
            .call(Helper::MapUpdateElem)
            .label(done)
    }
    /// Lays out the program: each instruction's slot (`ld_imm64` and map loads take two), jump
    /// offsets from the labels, and the map relocations; returns the code and the relocations.
    pub fn finish(&mut self) -> (Vec<u8>, Vec<MapReloc>) {
        let mut slot = Vec::with_capacity(self.insns.len() + 1);
        let mut at = 0usize;
        for insn in &self.insns {
            slot.push(at);
            at += insn.slots() as usize;
        }
        slot.push(at);
        let mut raw = Vec::with_capacity(at);
        let mut relocs = Vec::new();
        for (i, insn) in self.insns.iter().enumerate() {
            let offset = match insn.target() {
                Some(Label(n)) => {
                    let target = slot[self.labels[&n]];
                    i16::try_from(target as isize - slot[i] as isize - 1).expect("jump")
                }
                None => 0,
            };
            if let Insn::LdMap { map, .. } = insn {
                relocs.push(MapReloc {
                    insn_index: slot[i],
                    map: map.0 as usize,
                });
            }
            insn.encode(offset, &mut raw);
        }
        let code = raw.into_iter().flat_map(RawInsn::to_bytes).collect();
        (code, relocs)
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
            core_relos: Vec::new(),
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
        map_type: MapKind::Hash.map_type(),
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
        key_type: None,
        value_type: None,
    }
}

/// Any map definition.
pub fn map(name: &str, kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec {
        name: name.into(),
        map_type: kind.map_type(),
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

/// Whether kernel tests can run; prints why not, or panics under `LJBPF_REQUIRE_KERNEL=1`.
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
