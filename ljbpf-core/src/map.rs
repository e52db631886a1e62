//! The map kinds a probe file can declare with `bpf.map(kind, ...)`: one table, read by the
//! compiler (what a program may do with the map), the ELF writer (kernel type and flags) and the
//! binding generator (which Rust type reads it). Kernel numbers from `include/uapi/linux/bpf.h`
//! (`enum bpf_map_type`), Linux 6.18.

/// How keys address a map's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keys {
    /// Any key type (hash maps, LPM tries).
    Any,
    /// A 4-byte index (`uint32_t`): arrays and fd arrays.
    Index,
    /// No key: the map is a byte stream (ring buffers).
    None,
}

/// What the generated Rust bindings give for a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `aya::maps::HashMap<K, V>`.
    HashMap,
    /// `aya::maps::PerCpuHashMap<K, V>`.
    PerCpuHashMap,
    /// `aya::maps::Array<V>`.
    Array,
    /// `aya::maps::PerCpuArray<V>`.
    PerCpuArray,
    /// A typed reader of the perf buffers of every CPU.
    PerfEvents,
    /// A typed ring buffer reader.
    RingEvents,
    /// Stack lookups by id.
    StackTraces,
    /// The untyped `aya::maps::Map`.
    Untyped,
}

/// `BPF_F_NO_PREALLOC` (include/uapi/linux/bpf.h).
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// `PERF_MAX_STACK_DEPTH` (include/uapi/linux/perf_event.h): addresses per stack trace.
pub const PERF_MAX_STACK_DEPTH: u32 = 127;

macro_rules! map_kinds {
    ($($variant:ident = $name:literal, $map_type:literal, $keys:ident, $elements:literal,
       $delete:literal, $flags:expr, $binding:ident, $since:literal;)*) => {
        /// A map kind (`BPF_MAP_TYPE_*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum MapKind {
            $(
                #[doc = concat!("`bpf.map('", $name, "', ...)`: `BPF_MAP_TYPE_` number ", $map_type, ".")]
                $variant,
            )*
        }

        impl MapKind {
            /// Every kind, in table order.
            pub const ALL: &'static [MapKind] = &[$(MapKind::$variant,)*];

            /// The name a probe file gives to `bpf.map`.
            pub fn name(self) -> &'static str {
                match self { $(MapKind::$variant => $name,)* }
            }

            /// The kernel's `BPF_MAP_TYPE_*` number.
            pub fn map_type(self) -> u32 {
                match self { $(MapKind::$variant => $map_type,)* }
            }

            /// How keys address entries.
            pub fn keys(self) -> Keys {
                match self { $(MapKind::$variant => Keys::$keys,)* }
            }

            /// Whether a program may read and write entries (`m[k]`, `m[k] = v`, `xadd`).
            pub fn has_elements(self) -> bool {
                match self { $(MapKind::$variant => $elements,)* }
            }

            /// Whether a program may delete an entry (`m[k] = nil`).
            pub fn can_delete(self) -> bool {
                match self { $(MapKind::$variant => $delete,)* }
            }

            /// `map_flags` the kernel requires for this kind.
            pub fn flags(self) -> u32 {
                match self { $(MapKind::$variant => $flags,)* }
            }

            /// What the Rust bindings give for it.
            pub fn binding(self) -> Binding {
                match self { $(MapKind::$variant => Binding::$binding,)* }
            }

            /// The first Linux version that has it, `major.minor`.
            pub fn since(self) -> &'static str {
                match self { $(MapKind::$variant => $since,)* }
            }
        }
    };
}

map_kinds! {
    // variant     = name,               type, keys,  m[k], delete, flags,             binding, since
    // (first versions: the bcc project's docs/kernel-versions.md)
    Hash          = "hash",               1,  Any,   true,  true,  0,                 HashMap, "3.19";
    Array         = "array",              2,  Index, true,  false, 0,                 Array, "3.19";
    ProgArray     = "prog_array",         3,  Index, false, false, 0,                 Untyped, "4.2";
    PerfEventArray = "perf_event_array",  4,  Index, false, false, 0,                 PerfEvents, "4.3";
    PercpuHash    = "percpu_hash",        5,  Any,   true,  true,  0,                 PerCpuHashMap, "4.6";
    PercpuArray   = "percpu_array",       6,  Index, true,  false, 0,                 PerCpuArray, "4.6";
    StackTrace    = "stack_trace",        7,  Any,   false, false, 0,                 StackTraces, "4.6";
    CgroupArray   = "cgroup_array",       8,  Index, false, false, 0,                 Untyped, "4.8";
    LruHash       = "lru_hash",           9,  Any,   true,  true,  0,                 HashMap, "4.10";
    LruPercpuHash = "lru_percpu_hash",   10,  Any,   true,  true,  0,                 PerCpuHashMap, "4.10";
    // The kernel creates LPM tries only without preallocation (kernel/bpf/lpm_trie.c).
    LpmTrie       = "lpm_trie",          11,  Any,   true,  true,  BPF_F_NO_PREALLOC, Untyped, "4.11";
    Devmap        = "devmap",            14,  Index, false, false, 0,                 Untyped, "4.14";
    Sockmap       = "sockmap",           15,  Index, false, false, 0,                 Untyped, "4.14";
    Ringbuf       = "ringbuf",           27,  None,  false, false, 0,                 RingEvents, "5.8";
}

impl MapKind {
    /// The most entries the kernel creates a map of this kind with: hash tables round their
    /// bucket count up to a power of two and refuse more than 2^31 entries with E2BIG
    /// (`htab_map_alloc`, kernel/bpf/hashtab.c); other kinds take any `u32` the memory allows.
    pub fn max_entries(self) -> u32 {
        match self {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => {
                1 << 31
            }
            MapKind::Array
            | MapKind::ProgArray
            | MapKind::PerfEventArray
            | MapKind::PercpuArray
            | MapKind::StackTrace
            | MapKind::CgroupArray
            | MapKind::LpmTrie
            | MapKind::Devmap
            | MapKind::Sockmap
            | MapKind::Ringbuf => u32::MAX,
        }
    }

    /// The kind a probe file names, if there is one.
    pub fn from_name(name: &str) -> Option<MapKind> {
        MapKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for MapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_unique() {
        for (i, a) in MapKind::ALL.iter().enumerate() {
            assert_eq!(MapKind::from_name(a.name()), Some(*a));
            for b in &MapKind::ALL[i + 1..] {
                assert_ne!(a.map_type(), b.map_type(), "{a} and {b}");
            }
        }
    }
}
