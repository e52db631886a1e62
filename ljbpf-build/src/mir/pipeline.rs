//! The back-end pass pipeline: runs the passes in order on one program's virtual code, checks
//! the register allocation, and can hand out the code as it is after any pass.

use std::fmt;
use std::str::FromStr;

use super::code::{PCode, Reloc, VCode};
use super::layout::Laid;
use super::{
    bits, check, cse, dce, facts, frame, jumps, layout, legalize, loops, offsets, peephole, place,
    regalloc, reload, returns, slots, stores, thread, twins, values, widen,
};
use ljbpf_core::insn::Isa;

macro_rules! passes {
    ($($variant:ident = $name:literal, $doc:literal;)*) => {
        /// A named pass, in pipeline order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Pass {
            $(#[doc = $doc] $variant,)*
        }

        impl Pass {
            /// Every pass, in order.
            pub const ALL: &'static [Pass] = &[$(Pass::$variant,)*];

            /// Its name (`ljbpf dump --after NAME`).
            pub fn name(self) -> &'static str {
                match self { $(Pass::$variant => $name,)* }
            }

            /// What it does, in a line.
            pub fn doc(self) -> &'static str {
                match self { $(Pass::$variant => $doc,)* }
            }
        }
    };
}

passes! {
    Lower = "lower", "LuaJIT bytecode to BPF over virtual registers";
    Facts = "facts", "known bits and constants: drop redundant masks, fold, select immediates";
    Loops = "loops", "a loop entered with constants that only computes runs at compile time";
    Thread = "thread", "send edges on which a condition is known to where it leads (0/1 temporaries vanish)";
    Cse = "cse", "a packet or context field loaded and converted again reuses the first result";
    Values = "values", "a value a register still holds becomes a copy; conditions known on the way decide jumps (packet bounds of a smaller end)";
    Offsets = "offsets", "packet offset checks outside loops without a branch (a decided branch makes the verifier track the offset precisely)";
    Bits = "bits", "sign extensions whose high bits nobody reads go (32-bit operations, masks, narrow stores, the return value)";
    Legalize = "legalize", "rewrite what the target ISA level lacks";
    Stores = "stores", "stack stores that a later store overwrites before any read, or that store what the bytes already hold, go";
    Dce = "dce", "remove instructions whose results nobody reads";
    Reload = "reload", "packet loads whose range the verifier needs come back from the stack (its precision tracking stops there instead of marking every value precise)";
    Widen = "widen", "a halving kept as a division in a loop becomes a shift or-ed with a zero the verifier cannot see through (it forgets the value as after the division)";
    Slots = "slots", "stack objects that are never live at the same time share bytes";
    Twins = "twins", "registers always written together with the same value (a `for` loop's index and its copy) become one";
    Regalloc = "regalloc", "coalesce copies, colour virtual registers with R2-R9 or stack slots (checked)";
    Peephole = "peephole", "drop byte swaps that cancel, compare with constants in place";
    Frame = "frame", "write zeros at entry into the stack slots a path may read before writing them";
    Returns = "returns", "one `r0 = K; exit` per constant, the other returns jump to it";
    Jumps = "jumps", "thread jumps, drop jumps to the next instruction and dead code, move constant offsets into LD_IND";
    Place = "place", "in loops, the way an equality test likely goes (not equal) falls through; the other arm moves out of the way";
    Layout = "layout", "labels to offsets, instructions to slots";
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pass {
    type Err = String;

    fn from_str(s: &str) -> Result<Pass, String> {
        Pass::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Pass::ALL.iter().map(|p| p.name()).collect();
                format!("unknown pass `{s}` (passes: {})", names.join(", "))
            })
    }
}

/// A failure inside the back end, at a Lua line.
#[derive(Clone, Debug)]
pub struct PassError {
    /// The Lua line.
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

/// The code after one pass, as code (for tests that run it) and in kernel syntax.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The pass.
    pub pass: Pass,
    /// The code.
    pub code: Stage,
    /// The listing (labels symbolic until layout).
    pub text: String,
}

/// Code as some pass left it.
#[derive(Clone, Debug)]
pub enum Stage {
    /// Before register allocation.
    Virtual(VCode),
    /// After register allocation, labels symbolic.
    Physical(PCode),
    /// Laid out.
    Laid(Laid),
}

impl Stage {
    /// How many instruction slots the code takes (a 64-bit immediate load takes two).
    pub fn slots(&self) -> usize {
        match self {
            Stage::Virtual(c) => c.insns.iter().map(|r| r.insn.slots() as usize).sum(),
            Stage::Physical(c) => c.insns.iter().map(|r| r.insn.slots() as usize).sum(),
            Stage::Laid(l) => l.raw.len(),
        }
    }
}

/// Runs the back end on the code lowering made, for ISA level `isa`, of a program whose caller
/// reads the low `return_bits` of R0. `after` asks for the code as it is after each
/// of those passes (`maps` names map loads in it; `map_sizes` are their key and value sizes).
pub fn run(
    mut code: VCode,
    isa: Isa,
    return_bits: u8,
    after: &[Pass],
    maps: &[String],
    map_sizes: &[(u32, u32)],
    snapshots: &mut Vec<Snapshot>,
) -> Result<Laid, PassError> {
    let mut snap = |pass: Pass, stage: &dyn Fn() -> (Stage, String)| {
        if after.contains(&pass) {
            let (code, text) = stage();
            snapshots.push(Snapshot { pass, code, text });
        }
    };
    let virt = |c: &VCode| (Stage::Virtual(c.clone()), c.listing(maps));
    let phys = |c: &PCode| (Stage::Physical(c.clone()), c.listing(maps));
    snap(Pass::Lower, &|| virt(&code));
    facts::run(&mut code);
    snap(Pass::Facts, &|| virt(&code));
    loops::run(&mut code);
    snap(Pass::Loops, &|| virt(&code));
    thread::run(&mut code);
    facts::run(&mut code);
    snap(Pass::Thread, &|| virt(&code));
    cse::run(&mut code);
    snap(Pass::Cse, &|| virt(&code));
    values::run(&mut code);
    snap(Pass::Values, &|| virt(&code));
    offsets::run(&mut code);
    snap(Pass::Offsets, &|| virt(&code));
    bits::run(&mut code, return_bits);
    snap(Pass::Bits, &|| virt(&code));
    legalize::run(&mut code, isa);
    snap(Pass::Legalize, &|| virt(&code));
    stores::run(&mut code);
    snap(Pass::Stores, &|| virt(&code));
    dce::run(&mut code);
    snap(Pass::Dce, &|| virt(&code));
    reload::run(&mut code);
    snap(Pass::Reload, &|| virt(&code));
    widen::run(&mut code);
    snap(Pass::Widen, &|| virt(&code));
    slots::run(&mut code, map_sizes);
    snap(Pass::Slots, &|| virt(&code));
    twins::run(&mut code);
    snap(Pass::Twins, &|| virt(&code));
    let alloc = regalloc::run(&code).map_err(|e| PassError {
        line: e.line,
        message: e.message,
    })?;
    check::run(&code, &alloc).map_err(|e| PassError {
        line: e.line,
        message: format!("internal error: {e}"),
    })?;
    let mut code = alloc.code;
    snap(Pass::Regalloc, &|| phys(&code));
    peephole::run(&mut code, isa);
    snap(Pass::Peephole, &|| phys(&code));
    frame::run(&mut code, map_sizes);
    snap(Pass::Frame, &|| phys(&code));
    returns::run(&mut code);
    snap(Pass::Returns, &|| phys(&code));
    jumps::run(&mut code, isa);
    peephole::indirect_offsets(&mut code);
    snap(Pass::Jumps, &|| phys(&code));
    place::run(&mut code);
    snap(Pass::Place, &|| phys(&code));
    let laid = layout::run(&code).map_err(|e| PassError {
        line: e.line,
        message: e.message,
    })?;
    snap(Pass::Layout, &|| {
        let text = laid
            .insns
            .iter()
            .map(|p| {
                let reloc = match &p.reloc {
                    Some(Reloc::TracepointField {
                        event,
                        field,
                        string,
                        ..
                    }) => {
                        let what = if *string { "string start" } else { "field" };
                        format!("  ; moves with {event} {what} {field}")
                    }
                    Some(Reloc::KernelField { root, member, .. }) => {
                        format!("  ; CO-RE offset of {root}.{member}")
                    }
                    None => String::new(),
                };
                format!(
                    "{:5} ; line {:<4} {}{reloc}\n",
                    p.slot,
                    p.line,
                    p.text(maps)
                )
            })
            .collect();
        (Stage::Laid(laid.clone()), text)
    });
    Ok(laid)
}
