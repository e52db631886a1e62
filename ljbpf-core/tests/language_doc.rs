//! docs/language.md names everything the tables of this crate hold that a probe file can use:
//! every map kind, every `show` word of `ljbpf run`, every context field of every program
//! context and every constructor. A new row in one of those tables fails this test until the
//! language reference mentions it. (The dissector table is checked by a test next to it, in
//! `ljbpf-build/src/lower/packet.rs`.)

use ljbpf_core::context::{Arch, Context};
use ljbpf_core::map::MapKind;
use ljbpf_core::program::ProgramClass;
use ljbpf_core::show::Show;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md");
    std::fs::read_to_string(path).expect("docs/language.md")
}

#[test]
fn every_map_kind_and_show_word_is_documented() {
    let doc = doc();
    for kind in MapKind::ALL {
        assert!(
            doc.contains(&format!("| `{}` |", kind.name())),
            "map kind {kind}"
        );
    }
    for show in Show::ALL {
        assert!(
            doc.contains(&format!("| `'{}'` |", show.name())),
            "show = '{show}'"
        );
    }
}

#[test]
fn every_context_field_and_constructor_is_documented() {
    let doc = doc();
    let mut contexts: Vec<Context> = ProgramClass::ALL.iter().map(|c| c.context()).collect();
    contexts.dedup();
    for context in contexts {
        for field in context.field_names(Arch::X86_64) {
            let quoted = format!("`{field}`");
            let listed = doc.contains(&quoted)
                || doc.lines().any(|l| {
                    // pt_regs registers are listed inside one code span, space-separated.
                    l.split(['`', ' ']).any(|w| w == field)
                });
            assert!(listed, "{} field {field}", context.c_name());
        }
    }
    for class in ProgramClass::ALL {
        assert!(doc.contains(class.constructor()), "{}", class.constructor());
    }
}
