//! How `ljbpf run` shows a map: the words a probe file may give as the `show` option of
//! `bpf.map(kind, size, key, value, { show = WORD })`, one table. The compiler checks the word
//! against the map's kind and records it in the artifact; the BPF code never sees it, so the
//! option costs nothing in the compiled program.

use crate::map::MapKind;

macro_rules! shows {
    ($($variant:ident = $name:literal, $kinds:expr, $doc:literal;)*) => {
        /// One way of showing a map.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Show {
            $(
                #[doc = concat!("`show = '", $name, "'`: ", $doc)]
                $variant,
            )*
        }

        impl Show {
            /// Every way, in table order.
            pub const ALL: &'static [Show] = &[$(Show::$variant,)*];

            /// The word a probe file gives.
            pub fn name(self) -> &'static str {
                match self { $(Show::$variant => $name,)* }
            }

            /// What it shows, one sentence (for the documentation and error hints).
            pub fn doc(self) -> &'static str {
                match self { $(Show::$variant => $doc,)* }
            }

            /// Whether a map of `kind` can be shown this way.
            pub fn fits(self, kind: MapKind) -> bool {
                let fits: Fits = match self { $(Show::$variant => $kinds,)* };
                fits.admits(kind)
            }
        }
    };
}

/// Which map kinds a way of showing fits.
enum Fits {
    /// Maps whose entries a program reads and writes (hash, array, their per-CPU and LRU forms).
    Elements,
    /// Maps of events (perf event arrays, ring buffers).
    Events,
    /// Every kind.
    Any,
}

impl Fits {
    fn admits(&self, kind: MapKind) -> bool {
        match self {
            Fits::Elements => kind.has_elements(),
            Fits::Events => matches!(kind, MapKind::PerfEventArray | MapKind::Ringbuf),
            Fits::Any => true,
        }
    }
}

shows! {
    Table = "table", Fits::Elements,
        "one row per key with its value, largest value first (arrays: non-zero entries only).";
    Log2 = "log2", Fits::Elements,
        "the key is a log2 slot (what `math.log2` gives), the value a count: a histogram with bars, as bcc prints one.";
    Syscalls = "syscalls", Fits::Elements,
        "a table whose keys are x86-64 syscall numbers, shown with their names.";
    Stacks = "stacks", Fits::Elements,
        "a table whose struct key holds stack ids (fields named `*stack_id`, from `stack_id()`): each row is shown as its symbolised kernel or user stack (user stacks in the process of the key's `tgid` or `pid` field).";
    Events = "events", Fits::Events,
        "each event as one line of `field=value`, as the programs send them.";
    Hide = "hide", Fits::Any,
        "not shown (configuration, scratch state).";
}

impl Show {
    /// The way a map of `kind` is shown when the probe file does not say.
    ///
    /// Never a histogram: a map is shown as one only when the file says `show = 'log2'`, since
    /// nothing in a map's kind or types tells a slot from any other key.
    pub fn default_for(kind: MapKind) -> Show {
        match kind {
            MapKind::Hash
            | MapKind::Array
            | MapKind::PercpuHash
            | MapKind::PercpuArray
            | MapKind::LruHash
            | MapKind::LruPercpuHash => Show::Table,
            MapKind::PerfEventArray | MapKind::Ringbuf => Show::Events,
            // Stack traces are shown through the table that holds their ids; the others hold
            // fds or trie entries ljbpf programs do not read.
            MapKind::StackTrace
            | MapKind::ProgArray
            | MapKind::CgroupArray
            | MapKind::LpmTrie
            | MapKind::Devmap
            | MapKind::Sockmap => Show::Hide,
        }
    }

    /// The way a probe file names, if there is one.
    pub fn from_name(name: &str) -> Option<Show> {
        Show::ALL.iter().copied().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Show {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_fits_its_kind() {
        for &kind in MapKind::ALL {
            assert!(Show::default_for(kind).fits(kind), "{kind}");
        }
        for s in Show::ALL {
            assert_eq!(Show::from_name(s.name()), Some(*s));
        }
        assert!(!Show::Log2.fits(MapKind::Ringbuf));
        assert!(Show::Hide.fits(MapKind::StackTrace));
    }
}
