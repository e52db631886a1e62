//! Unit tests of the interpreter's semantics on hand-written programs.

use super::*;
use crate::insn::{MapId, Size};
use crate::map::MapKind;

fn prog(insns: Vec<Insn<Reg>>, labels: &[Option<usize>]) -> Program<Reg> {
    Program::from_labels(insns, labels)
}

fn mov(dst: Reg, imm: i32) -> Insn<Reg> {
    Insn::Alu64 {
        op: AluOp::Mov,
        dst,
        src: Src::Imm(imm),
    }
}

#[test]
fn division_by_zero_and_signed_overflow() {
    assert_eq!(alu(AluOp::Div, true, 7, 0), 0);
    assert_eq!(alu(AluOp::Mod, true, 7, 0), 7);
    assert_eq!(alu(AluOp::Mod, false, 0xffff_ffff_0000_0007, 0), 7);
    assert_eq!(
        alu(AluOp::SDiv, true, i64::MIN as u64, u64::MAX),
        i64::MIN as u64
    );
    assert_eq!(alu(AluOp::SMod, true, i64::MIN as u64, u64::MAX), 0);
    assert_eq!(alu(AluOp::SMod, true, (-7i64) as u64, 2), (-1i64) as u64);
    assert_eq!(alu(AluOp::Arsh, false, 0x8000_0000, 4), 0xf800_0000);
    assert_eq!(alu(AluOp::Lsh, true, 1, 65), 2);
    assert_eq!(alu(AluOp::Neg, false, 1, 0), 0xffff_ffff);
}

#[test]
fn packet_loads_and_early_exit() {
    let mut m = Machine::new(&[]);
    m.set_packet(vec![0x12, 0x34, 0x56, 0x78]);
    let p = prog(
        vec![
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: Reg::R6,
                src: Src::Reg(Reg::R1),
            },
            Insn::LdAbs {
                size: Size::H,
                imm: 1,
            },
            Insn::Exit,
        ],
        &[],
    );
    assert_eq!(m.run(&p), Ok(0x3456));
    let mut q = p.clone();
    q.insns[1] = Insn::LdAbs {
        size: Size::W,
        imm: 1,
    };
    assert_eq!(m.run(&q), Ok(0));
}

#[test]
fn calls_clobber_arguments_and_uninit_reads_fault() {
    let mut m = Machine::new(&[]);
    let p = prog(
        vec![
            mov(Reg::R1, 3),
            Insn::Call {
                helper: Helper::GetSmpProcessorId,
            },
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: Reg::R0,
                src: Src::Reg(Reg::R1),
            },
            Insn::Exit,
        ],
        &[],
    );
    assert!(matches!(
        m.run(&p),
        Err(Fault {
            pc: 2,
            kind: FaultKind::Uninit(_)
        })
    ));
}

#[test]
fn array_maps_start_zeroed_and_bounds_are_checked() {
    let def = MapDef {
        kind: MapKind::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
    };
    let mut m = Machine::new(&[def]);
    // r2 = fp - 4; *(u32 *)r2 = 2; r0 = lookup(m, r2); if r0 == 0 goto out;
    // *(u64 *)(r0 + 0) += 5 (atomic); r0 = *(u64 *)(r0 + off) ; exit
    let body = |off: i16| {
        vec![
            Insn::St {
                size: Size::W,
                dst: Reg::R10,
                off: -4,
                imm: 2,
            },
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: Reg::R2,
                src: Src::Reg(Reg::R10),
            },
            Insn::Alu64 {
                op: AluOp::Add,
                dst: Reg::R2,
                src: Src::Imm(-4),
            },
            Insn::LdMap {
                dst: Reg::R1,
                map: MapId(0),
            },
            Insn::Call {
                helper: Helper::MapLookupElem,
            },
            Insn::Jmp {
                op: JmpOp::Jeq,
                dst: Reg::R0,
                src: Src::Imm(0),
                target: Label(0),
            },
            mov(Reg::R1, 5),
            Insn::AtomicAdd {
                size: Size::DW,
                dst: Reg::R0,
                src: Reg::R1,
                off: 0,
            },
            Insn::Ldx {
                size: Size::DW,
                dst: Reg::R0,
                src: Reg::R0,
                off,
            },
            Insn::Exit,
        ]
    };
    assert_eq!(m.run(&prog(body(0), &[Some(9)])), Ok(5));
    assert_eq!(m.run(&prog(body(0), &[Some(9)])), Ok(10));
    assert_eq!(
        m.map_get(0, &2u32.to_le_bytes()),
        Some(10u64.to_le_bytes().to_vec())
    );
    assert!(matches!(
        m.run(&prog(body(1), &[Some(9)])),
        Err(Fault {
            kind: FaultKind::OutOfBounds { .. },
            ..
        })
    ));
}

#[test]
fn endless_loops_hit_the_budget() {
    let mut m = Machine::new(&[]);
    m.budget = 100;
    let p = prog(vec![Insn::Ja { target: Label(0) }], &[Some(0)]);
    assert_eq!(m.run(&p).unwrap_err().kind, FaultKind::Budget(100));
}
