//! Stack traces: reading `stack_trace` maps and symbolising their addresses.
//!
//! `bpf_get_stackid(ctx, map, flags)` stores the current kernel stack (flags 0) or user stack
//! (`BPF_F_USER_STACK`) in a `stack_trace` map and returns its id. [`stack_addresses`] (or
//! [`Probe::stack`]) reads an id back as instruction addresses, innermost frame first, and a
//! [`Symbolizer`] turns them into `function+offset`: kernel addresses through `/proc/kallsyms`,
//! user addresses through `/proc/PID/maps` and the ELF symbols of the mapped files.
//!
//! User stacks are walked by the kernel with frame pointers, so code built without them (most
//! distribution libraries, Rust without `-C force-frame-pointers`) usually yields only the
//! innermost frame (the user instruction pointer when the probe fired) plus whatever the frame
//! pointer chain happens to give.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aya::maps::{Map, StackTraceMap};
use object::{Object as _, ObjectSegment as _, ObjectSymbol as _, SymbolKind};

use crate::{Error, Probe};

/// `BPF_F_USER_STACK` (include/uapi/linux/bpf.h): `bpf_get_stackid` flag for the user stack.
pub const BPF_F_USER_STACK: u64 = 1 << 8;

/// Reads stack `stack_id` of `stack_trace` map `map` (named `name` in errors) as instruction
/// addresses, innermost frame first.
pub fn stack_addresses(name: &str, map: &Map, stack_id: u32) -> Result<Vec<u64>, Error> {
    let stacks = StackTraceMap::try_from(map).map_err(|source| Error::MapType {
        map: name.to_string(),
        expected: "StackTraceMap",
        source: Box::new(source),
    })?;
    let trace = stacks
        .get(&stack_id, 0)
        .map_err(|source| Error::StackTrace {
            map: name.to_string(),
            stack_id,
            source: Box::new(source),
        })?;
    Ok(trace.frames().iter().map(|frame| frame.ip).collect())
}

impl Probe {
    /// Reads stack `stack_id` (a `bpf_get_stackid` result) of `stack_trace` map `map` as
    /// instruction addresses, innermost frame first. See [`stack_addresses`].
    pub fn stack(&self, map: &str, stack_id: u32) -> Result<Vec<u64>, Error> {
        stack_addresses(map, self.map(map)?, stack_id)
    }
}

/// A symbolised address: `name+0xoffset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Symbol name as the symbol table has it (C names plain, Rust/C++ names mangled unless
    /// they are `#[no_mangle]`).
    pub name: String,
    /// Bytes from the symbol's start to the address.
    pub offset: u64,
    /// Kernel module (`[module]` column of kallsyms, `None` for the core kernel) or, for user
    /// addresses, the path of the mapped file.
    pub module: Option<String>,
}

impl fmt::Display for Symbol {
    /// `name+0x1f` (the module is left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)
    }
}

/// One symbol table entry.
#[derive(Debug)]
struct Entry {
    start: u64,
    /// 0 means unknown: the symbol extends to the next one.
    size: u64,
    name: Arc<str>,
    module: Option<Arc<str>>,
}

/// A symbol table sorted by start address.
#[derive(Debug, Default)]
struct Table {
    symbols: Vec<Entry>,
}

impl Table {
    fn push(&mut self, start: u64, size: u64, name: &str, module: Option<&str>) {
        self.symbols.push(Entry {
            start,
            size,
            name: Arc::from(name),
            module: module.map(Arc::from),
        });
    }
}

impl Table {
    fn sort(&mut self) {
        self.symbols.sort_by_key(|s| s.start);
        self.symbols.dedup_by_key(|s| s.start);
    }

    /// The symbol with the greatest start ≤ `addr`, if `addr` is inside it (or its size is
    /// unknown).
    fn lookup(&self, addr: u64) -> Option<Symbol> {
        let after = self.symbols.partition_point(|s| s.start <= addr);
        let entry = self.symbols.get(after.checked_sub(1)?)?;
        let offset = addr - entry.start;
        if entry.size != 0 && offset >= entry.size {
            return None;
        }
        Some(Symbol {
            name: entry.name.to_string(),
            offset,
            module: entry.module.as_ref().map(|m| m.to_string()),
        })
    }
}

/// One executable mapping of a process: `[start, end)` maps file `path` from `file_offset`.
#[derive(Debug, Clone)]
struct Mapping {
    start: u64,
    end: u64,
    file_offset: u64,
    path: PathBuf,
}

/// The ELF symbols of one file plus its loadable segments, to turn file offsets into symbol
/// addresses.
#[derive(Debug, Default)]
struct ElfSymbols {
    /// `(file_offset, file_size, vaddr)` of each segment.
    segments: Vec<(u64, u64, u64)>,
    table: Table,
}

impl ElfSymbols {
    fn load(path: &Path) -> Option<Self> {
        let data = fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let segments = file
            .segments()
            .map(|seg| {
                let (offset, size) = seg.file_range();
                (offset, size, seg.address())
            })
            .collect();
        let mut table = Table::default();
        // .symtab has everything (local functions too); .dynsym is what a stripped file keeps.
        for symbol in file.symbols().chain(file.dynamic_symbols()) {
            if symbol.kind() != SymbolKind::Text || symbol.address() == 0 {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            if name.is_empty() {
                continue;
            }
            table.push(symbol.address(), symbol.size(), name, None);
        }
        table.sort();
        Some(Self { segments, table })
    }

    fn lookup_file_offset(&self, file_offset: u64) -> Option<Symbol> {
        let &(seg_offset, _, seg_vaddr) = self
            .segments
            .iter()
            .find(|&&(off, size, _)| off <= file_offset && file_offset < off + size)?;
        self.table.lookup(file_offset - seg_offset + seg_vaddr)
    }
}

/// Turns kernel and user instruction addresses into [`Symbol`]s.
///
/// Tables are loaded lazily and cached: `/proc/kallsyms` on the first kernel lookup (as root
/// the addresses are real; with `kptr_restrict` hiding them every lookup gives `None`), a
/// process's `/proc/PID/maps` on its first lookup (re-read once when an address falls outside
/// every known mapping), and each mapped file's ELF symbols once. User lookups need the process
/// to be alive.
#[derive(Debug, Default)]
pub struct Symbolizer {
    kernel: Option<Table>,
    processes: HashMap<u32, Vec<Mapping>>,
    files: HashMap<PathBuf, Option<Arc<ElfSymbols>>>,
}

impl Symbolizer {
    /// An empty symbolizer; nothing is read until the first lookup.
    pub fn new() -> Self {
        Self::default()
    }

    /// The kernel function containing `addr`, from `/proc/kallsyms` (text symbols, including
    /// modules). `None` if kallsyms is unreadable or hides addresses.
    pub fn symbolize_kernel(&mut self, addr: u64) -> Option<Symbol> {
        self.kernel.get_or_insert_with(load_kallsyms).lookup(addr)
    }

    /// The function of process `pid` containing user address `addr`: finds the file mapping it
    /// in `/proc/PID/maps` and looks the address up in that file's `.symtab` (or `.dynsym`),
    /// undoing the load bias. [`Symbol::module`] is the file's path.
    pub fn symbolize_user(&mut self, pid: u32, addr: u64) -> Option<Symbol> {
        let mapping = match self.find_mapping(pid, addr) {
            Some(mapping) => mapping,
            None => {
                // The process may have mapped something new since we read its maps.
                self.processes.insert(pid, read_maps(pid)?);
                self.find_mapping(pid, addr)?
            }
        };
        let elf = self
            .files
            .entry(mapping.path.clone())
            .or_insert_with(|| {
                // /proc/PID/root/<path> also works for processes in another mount namespace.
                let rooted = Path::new("/proc")
                    .join(pid.to_string())
                    .join("root")
                    .join(mapping.path.strip_prefix("/").unwrap_or(&mapping.path));
                ElfSymbols::load(&rooted)
                    .or_else(|| ElfSymbols::load(&mapping.path))
                    .map(Arc::new)
            })
            .clone()?;
        let mut symbol = elf.lookup_file_offset(addr - mapping.start + mapping.file_offset)?;
        symbol.module = Some(mapping.path.display().to_string());
        Some(symbol)
    }

    /// Forgets the cached memory map of `pid` (call when a process exits or `exec`s).
    pub fn forget(&mut self, pid: u32) {
        self.processes.remove(&pid);
    }

    fn find_mapping(&mut self, pid: u32, addr: u64) -> Option<Mapping> {
        let mappings = match self.processes.entry(pid) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => new.insert(read_maps(pid)?),
        };
        mappings
            .iter()
            .find(|m| m.start <= addr && addr < m.end)
            .cloned()
    }
}

/// Parses `/proc/kallsyms` (`addr type name [module]`), keeping text symbols (`t T w W`) with
/// a non-zero address.
fn load_kallsyms() -> Table {
    let mut table = Table::default();
    let Ok(text) = fs::read_to_string("/proc/kallsyms") else {
        return table;
    };
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") {
            continue;
        }
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        if addr == 0 {
            continue;
        }
        let module = fields
            .next()
            .map(|m| m.trim_start_matches('[').trim_end_matches(']'));
        table.push(addr, 0, name, module);
    }
    table.sort();
    table
}

/// Parses the file-backed executable mappings of `/proc/PID/maps`
/// (`start-end perms offset dev inode path`).
fn read_maps(pid: u32) -> Option<Vec<Mapping>> {
    let text = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mut mappings = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(offset), Some(_dev), Some(_inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let path = fields.next().unwrap_or("").trim_start();
        if !perms.contains('x') || !path.starts_with('/') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(file_offset)) = (
            u64::from_str_radix(start, 16),
            u64::from_str_radix(end, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        mappings.push(Mapping {
            start,
            end,
            file_offset,
            path: PathBuf::from(path.trim_end_matches(" (deleted)")),
        });
    }
    Some(mappings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup_respects_sizes() {
        let mut table = Table::default();
        table.push(0x2000, 0, "b", None);
        table.push(0x1000, 0x10, "a", None);
        table.sort();
        assert_eq!(table.lookup(0xfff), None);
        assert_eq!(
            table.lookup(0x1004).map(|s| (s.name, s.offset)),
            Some(("a".into(), 4))
        );
        assert_eq!(table.lookup(0x1010), None);
        assert_eq!(table.lookup(0x2345).map(|s| s.offset), Some(0x345));
    }

    /// A function of this very test binary symbolises to its own name.
    #[test]
    fn symbolizes_own_function() {
        #[inline(never)]
        #[no_mangle]
        extern "C" fn ljbpf_stack_unit_marker() -> u32 {
            std::hint::black_box(7)
        }
        let addr = ljbpf_stack_unit_marker as *const () as usize as u64;
        let mut symbolizer = Symbolizer::new();
        let symbol = symbolizer
            .symbolize_user(std::process::id(), addr + 1)
            .expect("own function");
        assert_eq!(symbol.name, "ljbpf_stack_unit_marker");
        assert_eq!(symbol.offset, 1);
        assert!(ljbpf_stack_unit_marker() == 7);
    }
}
