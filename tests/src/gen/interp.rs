//! Running compiled programs in `ljbpf_core::interp` instead of the kernel: no root needed, and
//! the code can run as it is after every back-end pass, so a mismatch names the pass that
//! introduced it.
//!
//! A program's stages, in order: the code after each pass of `ljbpf_build::Pass::ALL` (its
//! snapshots; compile with [`snapshot_options`]), then `bytes`: the raw slots of
//! `CompiledProgram::code` decoded back with `ljbpf_core::insn::decode_all`, map loads
//! resolved through the laid-out code's map relocations (the ELF writer leaves their
//! immediates 0).

use ljbpf_build::core::insn::{decode_all, Insn, RawInsn, Reg};
use ljbpf_build::core::interp::{self, Machine, MapDef};
use ljbpf_build::mir::pipeline::{Snapshot, Stage as Code};
use ljbpf_build::mir::R;
use ljbpf_build::{CompiledProbe, CompiledProgram, Options, Pass};

use super::*;

/// What the stack holds at entry for code that must not read unwritten stack bytes.
const POISON: u8 = 0xa5;

/// Options that keep the code after every pass.
pub fn snapshot_options() -> Options {
    Options {
        snapshots_after: Pass::ALL.to_vec(),
        ..Options::default()
    }
}

/// Interpretable code of one stage.
#[derive(Clone, Debug)]
pub enum StageCode {
    /// Over virtual registers (before register allocation).
    Virtual(interp::Program<R>),
    /// Over physical registers.
    Physical(interp::Program<Reg>),
}

/// One stage of a program: the pass it follows (or `bytes`), its code and its listing.
#[derive(Clone, Debug)]
pub struct Stage {
    /// `lower`, `dce`, ..., `layout`, or `bytes`.
    pub name: String,
    /// The code.
    pub code: StageCode,
    /// Its listing, for reports.
    pub text: String,
}

/// The stages of `program`: one per snapshot, then its decoded bytes (when it has a laid-out
/// snapshot to take map relocations from).
pub fn stages(program: &CompiledProgram) -> Result<Vec<Stage>, String> {
    let mut out = Vec::new();
    let mut relocs = None;
    for Snapshot { pass, code, text } in &program.snapshots {
        // From the frame pass on, the code must not read a stack byte nothing wrote: the kernel
        // does not zero the stack, so neither does the interpreter.
        let fill = if *pass >= Pass::Frame { POISON } else { 0 };
        let code = match code {
            Code::Virtual(c) => StageCode::Virtual(
                interp::Program::from_labels(c.insns.iter().map(|r| r.insn).collect(), &c.labels)
                    .with_stack_fill(fill),
            ),
            Code::Physical(c) => StageCode::Physical(
                interp::Program::from_labels(c.insns.iter().map(|r| r.insn).collect(), &c.labels)
                    .with_stack_fill(fill),
            ),
            Code::Laid(l) => {
                relocs = Some(l.map_relocs().collect::<Vec<_>>());
                StageCode::Physical(
                    interp::Program::from_placed(l.insns.iter().map(|p| (p.slot, p.insn, p.jump)))
                        .with_stack_fill(fill),
                )
            }
        };
        out.push(Stage {
            name: pass.name().to_owned(),
            code,
            text: text.clone(),
        });
    }
    if let Some(relocs) = relocs {
        let raw = RawInsn::parse(&program.code).map_err(|e| e.to_string())?;
        let mut decoded = decode_all(&raw).map_err(|e| format!("{}: {e}", program.name))?;
        for (slot, map) in relocs {
            match decoded.iter_mut().find(|d| d.0 == slot) {
                Some((_, Insn::LdMap { map: m, .. }, _)) => *m = map,
                _ => return Err(format!("map relocation at slot {slot} is not a map load")),
            }
        }
        let text = decoded
            .iter()
            .map(|(slot, insn, off)| {
                let show = ljbpf_build::core::insn::Show {
                    insn,
                    maps: &[],
                    jump: insn.target().map(|_| *off),
                };
                format!("{slot:5} {show}\n")
            })
            .collect();
        out.push(Stage {
            name: "bytes".to_owned(),
            code: StageCode::Physical(
                interp::Program::from_placed(decoded).with_stack_fill(POISON),
            ),
            text,
        });
    }
    Ok(out)
}

/// The interpreter's view of a probe's maps.
pub fn map_defs(probe: &CompiledProbe) -> Vec<MapDef> {
    probe
        .maps
        .iter()
        .map(|m| MapDef {
            kind: m.kind,
            key_size: m.key.size(),
            value_size: m.value.size(),
            max_entries: m.max_entries,
        })
        .collect()
}

/// A machine for a socket filter run on a `BPF_PROG_TEST_RUN` frame: the kernel strips the
/// first 14 bytes (`eth_type_trans`, which also sets `skb->protocol` from them), so the
/// program sees the rest as its packet.
pub fn socket_machine(defs: &[MapDef], frame: &[u8]) -> Machine {
    let mut m = Machine::new(defs);
    let packet = frame.get(14..).unwrap_or_default().to_vec();
    let proto = frame
        .get(12..14)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    m.set_context(Machine::skb_context(packet.len() as u32, proto));
    m.set_packet(packet);
    m
}

/// Runs one stage on a machine.
pub fn run_stage(machine: &mut Machine, code: &StageCode) -> Result<u64, interp::Fault> {
    match code {
        StageCode::Virtual(p) => machine.run(p),
        StageCode::Physical(p) => machine.run(p),
    }
}

fn map_index(probe: &CompiledProbe, name: &str) -> Result<usize, String> {
    probe
        .maps
        .iter()
        .position(|m| m.name == name)
        .ok_or_else(|| format!("no map {name}"))
}

/// Runs program `index` of a probe file made by [`probe_file`], at one stage, on `input`: the
/// interpreter's counterpart of [`run_kernel`].
pub fn run_interp(
    probe: &CompiledProbe,
    defs: &[MapDef],
    index: usize,
    code: &StageCode,
    input: &Input,
) -> Result<Observed, String> {
    let (out, m, w) = (
        map_index(probe, "out")?,
        map_index(probe, "m")?,
        map_index(probe, "w")?,
    );
    let mut machine = socket_machine(defs, &input.packet());
    let base = index * OUT_SLOTS;
    let key = |k: usize| (k as u32).to_le_bytes();
    for slot in 0..OUT_SLOTS {
        machine.map_set(out, &key(base + slot), &SENTINEL.to_le_bytes());
    }
    for (n, v) in input.m.iter().enumerate() {
        machine.map_set(m, &key(n), &v.to_le_bytes());
    }
    for (n, v) in input.w.iter().enumerate() {
        machine.map_set(w, &key(n), &v.to_le_bytes());
    }
    machine.map_set(map_index(probe, "g")?, &key(0), &[0u8; IX_VAL_SIZE]);
    let ret = run_stage(&mut machine, code).map_err(|f| f.to_string())?;
    let mut get = |map: usize, k: usize| -> Result<u64, String> {
        let bytes = machine
            .map_get(map, &key(k))
            .ok_or_else(|| format!("map entry {k} missing"))?;
        let mut v = [0u8; 8];
        v[..bytes.len()].copy_from_slice(&bytes);
        Ok(u64::from_le_bytes(v))
    };
    let mut obs = Observed {
        ret: ret as u32,
        out: Vec::with_capacity(OUT_SLOTS),
        m: [0; MAP_LEN],
        w: [0; MAP_LEN],
    };
    for slot in 0..OUT_SLOTS {
        let v = get(out, base + slot)?;
        obs.out.push((v != SENTINEL).then_some(v));
    }
    for n in 0..MAP_LEN {
        obs.m[n] = get(m, n)?;
        obs.w[n] = get(w, n)? as u32;
    }
    Ok(obs)
}

/// Runs every stage of program `index` on `input` and compares each with `want` (LuaJIT):
/// `None` when all agree, else the kind and a report naming the first stage that differs.
pub fn check_stages(
    probe: &CompiledProbe,
    defs: &[MapDef],
    index: usize,
    stages: &[Stage],
    input: &Input,
    want: &Observed,
) -> Option<(FailureKind, String)> {
    let mut prev = "LuaJIT";
    for stage in stages {
        match run_interp(probe, defs, index, &stage.code, input) {
            Err(e) => {
                return Some((
                    FailureKind::Interpreter,
                    format!(
                        "after pass `{}` ({prev} agrees with LuaJIT): {e}\ncode after `{}`:\n{}",
                        stage.name, stage.name, stage.text
                    ),
                ))
            }
            Ok(got) if got != *want => {
                return Some((
                    FailureKind::Mismatch,
                    format!(
                        "results first differ after pass `{}` ({prev} agrees with LuaJIT):\n{}\ncode after `{}`:\n{}",
                        stage.name,
                        want.diff_with(&got, &format!("interpreter after `{}`", stage.name))
                            .join("\n"),
                        stage.name,
                        stage.text
                    ),
                ))
            }
            Ok(_) => prev = &stage.name,
        }
    }
    None
}
