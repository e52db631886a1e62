//! Stage 7c: the Rust bindings module of a probe file (made with `quote!`, formatted with
//! prettyplease). It embeds the ELF, describes programs and maps for ljbpf-runtime, and
//! declares `#[repr(C)]` Rust types for the C structs used by maps, with their layout asserted.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use ljbpf_core::map::Binding;
use ljbpf_core::program::{Direction, ProgramKind, Sample};
use ljbpf_core::reloc::RelocKind;

use crate::artifact::CompiledProbe;
use crate::ctype::{CType, StructDef};
use crate::names;

/// Why bindings cannot be generated: the message, and a hint.
type Refused = (String, Option<String>);

/// Why the bindings of a probe cannot be generated, and which map's types are the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingsError {
    /// Index into `CompiledProbe::maps` of the map whose key, value or event type is the cause.
    pub map: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

/// Rust spelling of a C type; `structs` collects the structs that need declaring.
fn rust_type(ty: &CType, structs: &mut Vec<StructDef>) -> Result<TokenStream, Refused> {
    Ok(match ty {
        // `char` (text) as bytes, whatever C's signedness.
        CType::Bool | CType::Int { is_char: true, .. } => quote!(u8),
        CType::Int { size, signed, .. } => {
            let name = format!(
                "{}{}",
                if *signed { "i" } else { "u" },
                u32::from(*size) * 8
            );
            let id = Ident::new(&name, Span::call_site());
            quote!(#id)
        }
        CType::Pointer(_) => quote!(u64),
        CType::Array(elem, n) => {
            let e = rust_type(elem, structs)?;
            let n = Literal::usize_unsuffixed(*n as usize);
            quote!([#e; #n])
        }
        CType::Struct(def) => {
            let name = struct_ident(def)?;
            if !structs.iter().any(|s| s == &**def) {
                // Nested structs first, so declarations come in a stable order.
                for f in &def.fields {
                    rust_type(&f.ty, structs)?;
                }
                if !structs.iter().any(|s| s == &**def) {
                    structs.push((**def).clone());
                }
            }
            quote!(#name)
        }
        CType::Void | CType::Opaque { .. } => {
            return Err((format!("type {} has no size", ty.c_name()), None))
        }
    })
}

fn struct_ident(def: &StructDef) -> Result<Ident, Refused> {
    let name = def
        .name
        .clone()
        .or_else(|| def.typedef_name.clone())
        .ok_or_else(|| {
            (
                "an anonymous struct cannot be a map key or value".to_string(),
                Some("give it a name".to_string()),
            )
        })?;
    names::type_ident(&name)
        .map_err(|r| (format!("C type name `{name}` {}", r.reason), Some(r.hint)))
}

/// A `#[repr(C)]` struct with explicit padding, so it is `Pod`.
fn struct_decl(def: &StructDef) -> Result<TokenStream, Refused> {
    let name = struct_ident(def)?;
    let size = def.size as usize;
    let mut fields = Vec::new();
    let mut asserts = Vec::new();
    let mut at = 0u32;
    let mut pad = 0u32;
    let mut ignored = Vec::new();
    if def.is_union
        || def
            .fields
            .iter()
            .any(|f| f.bits.is_some() || f.name.is_empty())
    {
        // Unions, bit fields and anonymous members: expose the bytes.
        let n = Literal::usize_unsuffixed(size);
        let align = Literal::usize_unsuffixed(def.align as usize);
        return Ok(quote! {
            #[doc = "C type with unions or bit fields, exposed as its bytes."]
            #[repr(C, align(#align))]
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct #name { pub bytes: [u8; #n] }
            impl Default for #name { fn default() -> Self { Self { bytes: [0; #n] } } }
            unsafe impl ::ljbpf_runtime::aya::Pod for #name {}
            const _: () = assert!(::core::mem::size_of::<#name>() == #n);
        });
    }
    // Every field name, the padding's included, once: `_pad0` in the C struct would collide.
    let mut taken = BTreeSet::new();
    for f in &def.fields {
        if f.offset > at {
            let p = format_ident!("_pad{}", pad);
            taken.insert(p.to_string());
            let n = Literal::usize_unsuffixed((f.offset - at) as usize);
            fields.push(quote!(#[doc(hidden)] pub #p: [u8; #n]));
            pad += 1;
        }
        let fname = names::rust_ident(&f.name).map_err(|r| {
            (
                format!(
                    "field {} of {} {}",
                    names::quoted(&f.name),
                    def.c_name(),
                    r.reason
                ),
                Some(r.hint),
            )
        })?;
        if !taken.insert(fname.to_string()) {
            return Err((
                format!(
                    "field `{}` of {} has the name of the padding the Rust struct needs there",
                    f.name,
                    def.c_name()
                ),
                Some("rename the field in the ffi.cdef".into()),
            ));
        }
        let mut inner = Vec::new();
        let ty = rust_type(&f.ty, &mut inner)?;
        ignored.extend(inner);
        let doc = format!("`{}` at offset {}", f.ty.c_name(), f.offset);
        fields.push(quote!(#[doc = #doc] pub #fname: #ty));
        let off = Literal::usize_unsuffixed(f.offset as usize);
        asserts.push(quote!(
            const _: () = assert!(::core::mem::offset_of!(#name, #fname) == #off);
        ));
        at = f.offset + f.ty.size();
    }
    if def.size > at {
        let p = format_ident!("_pad{}", pad);
        if taken.contains(&p.to_string()) {
            return Err((
                format!(
                    "a field of {} has the name `{p}` of the padding the Rust struct needs at its end",
                    def.c_name()
                ),
                Some("rename the field in the ffi.cdef".into()),
            ));
        }
        let n = Literal::usize_unsuffixed((def.size - at) as usize);
        fields.push(quote!(#[doc(hidden)] pub #p: [u8; #n]));
    }
    let doc = format!(
        "`{}` ({} bytes), layout checked against LuaJIT's ffi.",
        def.c_name(),
        def.size
    );
    let n = Literal::usize_unsuffixed(size);
    Ok(quote! {
        #[doc = #doc]
        #[repr(C)]
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct #name { #(#fields,)* }
        impl Default for #name {
            fn default() -> Self {
                // SAFETY: a Pod struct of integers and byte arrays: all zero bits is a value.
                unsafe { ::core::mem::zeroed() }
            }
        }
        unsafe impl ::ljbpf_runtime::aya::Pod for #name {}
        const _: () = assert!(::core::mem::size_of::<#name>() == #n);
        #(#asserts)*
    })
}

/// The kind as a constant expression (names borrowed, for a static).
fn kind_tokens(kind: &ProgramKind) -> TokenStream {
    let name = |s: &str| quote!(::std::borrow::Cow::Borrowed(#s));
    let opt = |s: &Option<ljbpf_core::program::Name>| match s {
        Some(s) => {
            let s = name(s);
            quote!(Some(#s))
        }
        None => quote!(None),
    };
    match kind {
        ProgramKind::Tracepoint { category, name: n } => {
            let (c, n) = (name(category), name(n));
            quote!(::ljbpf_runtime::ProgramKind::Tracepoint { category: #c, name: #n })
        }
        ProgramKind::SocketFilter { iface: Some(i) } => {
            let i = name(i);
            quote!(::ljbpf_runtime::ProgramKind::SocketFilter { iface: Some(#i) })
        }
        ProgramKind::SocketFilter { iface: None } => {
            quote!(::ljbpf_runtime::ProgramKind::SocketFilter { iface: None })
        }
        ProgramKind::Kprobe { function, ret } => {
            let f = name(function);
            quote!(::ljbpf_runtime::ProgramKind::Kprobe { function: #f, ret: #ret })
        }
        ProgramKind::Uprobe { path, symbol, ret } => {
            let (p, s) = (name(path), name(symbol));
            quote!(::ljbpf_runtime::ProgramKind::Uprobe { path: #p, symbol: #s, ret: #ret })
        }
        ProgramKind::RawTracepoint { name: n } => {
            let n = name(n);
            quote!(::ljbpf_runtime::ProgramKind::RawTracepoint { name: #n })
        }
        ProgramKind::TpBtf { name: n } => {
            let n = name(n);
            quote!(::ljbpf_runtime::ProgramKind::TpBtf { name: #n })
        }
        ProgramKind::Fentry { function, ret } => {
            let f = name(function);
            quote!(::ljbpf_runtime::ProgramKind::Fentry { function: #f, ret: #ret })
        }
        ProgramKind::PerfEvent { event } => {
            let (t, c) = (event.perf_type, event.config);
            let sample = match event.sample {
                Sample::Frequency(f) => quote!(::ljbpf_runtime::Sample::Frequency(#f)),
                Sample::Period(p) => quote!(::ljbpf_runtime::Sample::Period(#p)),
            };
            quote!(::ljbpf_runtime::ProgramKind::PerfEvent {
                event: ::ljbpf_runtime::PerfEventSpec { perf_type: #t, config: #c, sample: #sample }
            })
        }
        ProgramKind::Xdp { iface } => {
            let i = opt(iface);
            quote!(::ljbpf_runtime::ProgramKind::Xdp { iface: #i })
        }
        ProgramKind::Tc { iface, direction } => {
            let (i, d) = (opt(iface), direction_tokens(*direction));
            quote!(::ljbpf_runtime::ProgramKind::Tc { iface: #i, direction: #d })
        }
        ProgramKind::CgroupSkb { path, direction } => {
            let (p, d) = (opt(path), direction_tokens(*direction));
            quote!(::ljbpf_runtime::ProgramKind::CgroupSkb { path: #p, direction: #d })
        }
    }
}

fn direction_tokens(d: Direction) -> TokenStream {
    match d {
        Direction::Ingress => quote!(::ljbpf_runtime::Direction::Ingress),
        Direction::Egress => quote!(::ljbpf_runtime::Direction::Egress),
    }
}

/// `attach_<program>(...)`: no arguments where the probe file names the target; the
/// interface and XDP mode, the interface, direction and tc priority, or the cgroup for the
/// packet kinds, whose targets are usually chosen at run time; the perf event options for
/// perf event programs.
fn attach_method(attach: &Ident, name: &str, kind: &ProgramKind) -> TokenStream {
    match kind {
        ProgramKind::Xdp { .. } => {
            let doc = format!(
                "Attaches XDP program `{name}` to interface `iface` in `mode` (`XdpMode::Default` lets the kernel choose native or generic XDP); detached when the probe is dropped or `inner().detach(\"{name}\")`."
            );
            quote! {
                #[doc = #doc]
                pub fn #attach(&mut self, iface: &str, mode: ::ljbpf_runtime::XdpMode) -> Result<(), ::ljbpf_runtime::Error> {
                    self.inner.attach_xdp(#name, iface, mode)
                }
            }
        }
        ProgramKind::Tc { .. } => {
            let doc = format!(
                "Attaches tc program `{name}` (direct action) to the `direction` hook of interface `iface`. Priority 0 uses a tcx link where the kernel has them (6.6), else a filter on a `clsact` qdisc with a kernel-chosen priority; another priority always uses a filter at that priority. Filters, and a `clsact` qdisc the probe created, are removed when it is dropped."
            );
            quote! {
                #[doc = #doc]
                pub fn #attach(&mut self, iface: &str, direction: ::ljbpf_runtime::Direction, priority: u16) -> Result<(), ::ljbpf_runtime::Error> {
                    self.inner.attach_tc(#name, iface, direction, priority)
                }
            }
        }
        ProgramKind::CgroupSkb { direction, .. } => {
            let doc = format!(
                "Attaches cgroup skb program `{name}` ({direction}, as declared) to the cgroup v2 directory `cgroup` (e.g. `/sys/fs/cgroup/my.slice`); the link closes when the probe is dropped."
            );
            quote! {
                #[doc = #doc]
                pub fn #attach(&mut self, cgroup: &::std::path::Path) -> Result<(), ::ljbpf_runtime::Error> {
                    self.inner.attach_cgroup(#name, cgroup)
                }
            }
        }
        ProgramKind::PerfEvent { event } => {
            let doc = format!(
                "Attaches perf event program `{name}` (declared: {}; `attach_all` uses that on every CPU) with `options`: another event or sampling, some CPUs, one process.",
                event.describe()
            );
            quote! {
                #[doc = #doc]
                pub fn #attach(&mut self, options: &::ljbpf_runtime::PerfAttach) -> Result<(), ::ljbpf_runtime::Error> {
                    self.inner.attach_perf_event(#name, options)
                }
            }
        }
        ProgramKind::Tracepoint { .. }
        | ProgramKind::SocketFilter { .. }
        | ProgramKind::Kprobe { .. }
        | ProgramKind::Uprobe { .. }
        | ProgramKind::RawTracepoint { .. }
        | ProgramKind::TpBtf { .. }
        | ProgramKind::Fentry { .. } => {
            let doc = format!("Attaches program `{name}` ({}).", kind.as_str());
            quote! {
                #[doc = #doc]
                pub fn #attach(&mut self) -> Result<(), ::ljbpf_runtime::Error> { self.inner.attach(#name) }
            }
        }
    }
}

/// The bindings module body for `probe`; `elf_file` is the object's file name under
/// `$OUT_DIR/ljbpf/`.
pub fn bindings(probe: &CompiledProbe, elf_file: &str) -> Result<String, BindingsError> {
    let mut structs: Vec<StructDef> = Vec::new();
    // Which map first used each struct, to say where a struct's name is refused.
    let mut struct_map: Vec<usize> = Vec::new();
    let mut map_methods = Vec::new();
    for (mi, m) in probe.maps.iter().enumerate() {
        let fail = |what: &str, (e, hint): Refused| BindingsError {
            map: Some(mi),
            message: format!("map `{}` {what}: {e}", m.name),
            hint,
        };
        // The loader refused every name that has no identifier.
        let name =
            names::rust_ident(&m.name).map_err(|r| fail("name", (r.reason, Some(r.hint))))?;
        let mname = &m.name;
        let k = rust_type(&m.key, &mut structs).map_err(|e| fail("key", e))?;
        let v = rust_type(&m.value, &mut structs).map_err(|e| fail("value", e))?;
        let (ty, expected, ctor) = match m.kind.binding() {
            Binding::HashMap => (
                quote!(::ljbpf_runtime::aya::maps::HashMap<&mut ::ljbpf_runtime::aya::maps::MapData, #k, #v>),
                "HashMap",
                quote!(::ljbpf_runtime::aya::maps::HashMap::try_from(map)),
            ),
            Binding::PerCpuHashMap => (
                quote!(::ljbpf_runtime::aya::maps::PerCpuHashMap<&mut ::ljbpf_runtime::aya::maps::MapData, #k, #v>),
                "PerCpuHashMap",
                quote!(::ljbpf_runtime::aya::maps::PerCpuHashMap::try_from(map)),
            ),
            Binding::Array => (
                quote!(::ljbpf_runtime::aya::maps::Array<&mut ::ljbpf_runtime::aya::maps::MapData, #v>),
                "Array",
                quote!(::ljbpf_runtime::aya::maps::Array::try_from(map)),
            ),
            Binding::PerCpuArray => (
                quote!(::ljbpf_runtime::aya::maps::PerCpuArray<&mut ::ljbpf_runtime::aya::maps::MapData, #v>),
                "PerCpuArray",
                quote!(::ljbpf_runtime::aya::maps::PerCpuArray::try_from(map)),
            ),
            Binding::PerfEvents | Binding::RingEvents if m.event.is_some() => {
                let ev = m
                    .event
                    .as_ref()
                    .map(|t| rust_type(t, &mut structs))
                    .transpose();
                let ev = ev.map_err(|e| fail("events", e))?;
                struct_map.resize(structs.len(), mi);
                let (reader, what) = if m.kind.binding() == Binding::RingEvents {
                    (quote!(::ljbpf_runtime::RingBufReader), "ring buffer")
                } else {
                    (
                        quote!(::ljbpf_runtime::PerfReader),
                        "perf buffers of every CPU",
                    )
                };
                let doc = format!(
                    "A reader of the `{}` {what}, decoding {} events (takes the map out of the probe).",
                    m.name,
                    m.event.as_ref().map(|t| t.c_name()).unwrap_or_default()
                );
                map_methods.push(quote! {
                    #[doc = #doc]
                    pub fn #name(&mut self) -> Result<#reader<#ev>, ::ljbpf_runtime::Error> {
                        #reader::new(&mut self.inner, #mname)
                    }
                });
                continue;
            }
            Binding::StackTraces => {
                struct_map.resize(structs.len(), mi);
                let doc = format!(
                    "The addresses of stack `stack_id` in the `{}` stack trace map.",
                    m.name
                );
                map_methods.push(quote! {
                    #[doc = #doc]
                    pub fn #name(&self, stack_id: u32) -> Result<Vec<u64>, ::ljbpf_runtime::Error> {
                        self.inner.stack(#mname, stack_id)
                    }
                });
                continue;
            }
            Binding::PerfEvents | Binding::RingEvents | Binding::Untyped => {
                struct_map.resize(structs.len(), mi);
                let doc = format!("The `{}` map ({}), untyped.", m.name, m.kind);
                map_methods.push(quote! {
                    #[doc = #doc]
                    pub fn #name(&mut self) -> Result<&mut ::ljbpf_runtime::aya::maps::Map, ::ljbpf_runtime::Error> {
                        self.inner.map_mut(#mname)
                    }
                });
                continue;
            }
        };
        struct_map.resize(structs.len(), mi);
        let doc = format!(
            "The `{}` map: {} of {} → {} ({} entries).",
            m.name,
            m.kind,
            m.key.c_name(),
            m.value.c_name(),
            m.max_entries
        );
        map_methods.push(quote! {
            #[doc = #doc]
            pub fn #name(&mut self) -> Result<#ty, ::ljbpf_runtime::Error> {
                let map = self.inner.map_mut(#mname)?;
                #ctor.map_err(|e| ::ljbpf_runtime::Error::MapType { map: #mname.to_string(), expected: #expected, source: Box::new(e) })
            }
        });
    }
    let mut decls = Vec::new();
    let mut seen = BTreeSet::new();
    // C names differ but Rust names may not (`struct a` and a typedef `a` of another struct).
    let mut idents: std::collections::BTreeMap<String, String> = Default::default();
    for (s, &mi) in structs.iter().zip(&struct_map) {
        let fail = |(message, hint): Refused| BindingsError {
            map: Some(mi),
            message,
            hint,
        };
        if seen.insert(s.c_name()) {
            let id = struct_ident(s).map_err(fail)?.to_string();
            if let Some(other) = idents.insert(id.clone(), s.c_name()) {
                return Err(fail((
                    format!(
                        "`{}` and `{other}` would both be the Rust struct `{id}`",
                        s.c_name()
                    ),
                    Some("rename one of them in the ffi.cdef".into()),
                )));
            }
            decls.push(struct_decl(s).map_err(fail)?);
        }
    }

    let mut line_statics = Vec::new();
    let mut infos = Vec::new();
    let mut prog_methods = Vec::new();
    for (i, p) in probe.programs.iter().enumerate() {
        let lines_id = format_ident!("LINES_{}", i);
        let entries = p.lines.iter().map(|(insn, span)| {
            let file = &span.file;
            let line = span.line;
            quote!(::ljbpf_runtime::LineEntry { insn: #insn, file: #file, line: #line })
        });
        line_statics
            .push(quote!(static #lines_id: &[::ljbpf_runtime::LineEntry] = &[#(#entries),*];));
        let name = &p.name;
        let kind = kind_tokens(&p.kind);
        let insns = p.insn_count;
        let stack = p.stack_bytes;
        let relocs_id = format_ident!("RELOCS_{}", i);
        let relocs = p.relocs.iter().map(|r| {
            let (insn, event, field, offset, size) =
                (r.insn, r.event.as_ref(), r.field.as_ref(), r.offset, r.size);
            let kind = match r.kind {
                RelocKind::Offset => quote!(::ljbpf_runtime::RelocKind::Offset),
                RelocKind::StringStart => quote!(::ljbpf_runtime::RelocKind::StringStart),
            };
            quote!(::ljbpf_runtime::FieldReloc {
                insn: #insn,
                event: ::std::borrow::Cow::Borrowed(#event),
                field: ::std::borrow::Cow::Borrowed(#field),
                offset: #offset,
                size: #size,
                kind: #kind,
            })
        });
        line_statics
            .push(quote!(static #relocs_id: &[::ljbpf_runtime::FieldReloc] = &[#(#relocs),*];));
        infos.push(quote! {
            ::ljbpf_runtime::ProgramInfo { name: #name, kind: #kind, insns: #insns, stack_bytes: #stack, lines: #lines_id, relocs: #relocs_id }
        });
        let insns_id = names::insns_ident(&p.name);
        let words = p.code.chunks(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        });
        let n = Literal::usize_unsuffixed(p.code.len() / 8);
        let doc = format!(
            "Program `{}` as raw instructions (little-endian `struct bpf_insn` words); map loads hold fd 0 until relocated (the ELF's relocations say which map).",
            p.name
        );
        line_statics.push(quote!(#[doc = #doc] pub static #insns_id: [u64; #n] = [#(#words),*];));
        let attach = names::method_ident("attach_", &p.name);
        prog_methods.push(attach_method(&attach, &p.name, &p.kind));
        if let ProgramKind::RawTracepoint { .. } = &p.kind {
            let tr = names::method_ident("test_run_", &p.name);
            let doc = format!(
                "Runs raw tracepoint `{}` once with BPF_PROG_TEST_RUN on `args` (`ctx.arg0`, ...; at most 12) and returns its return value (Linux 5.10+).",
                p.name
            );
            prog_methods.push(quote! {
                #[doc = #doc]
                pub fn #tr(&self, args: &[u64]) -> Result<u32, ::ljbpf_runtime::Error> {
                    self.inner.test_run_raw(#name, args)
                }
            });
        } else if p.kind.class().test_run() {
            let tr = names::method_ident("test_run_", &p.name);
            let doc = match p.kind {
                ProgramKind::Xdp { .. } | ProgramKind::Tc { .. } => format!(
                    "Runs {} program `{}` once on `packet` (a whole Ethernet frame) with BPF_PROG_TEST_RUN.",
                    p.kind.as_str(), p.name
                ),
                ProgramKind::CgroupSkb { .. } => format!(
                    "Runs cgroup skb program `{}` once on `packet` with BPF_PROG_TEST_RUN (the kernel strips the first 14 bytes as an Ethernet header).",
                    p.name
                ),
                _ => format!(
                    "Runs socket filter `{}` once on `packet` with BPF_PROG_TEST_RUN (the kernel strips the first 14 bytes as an Ethernet header).",
                    p.name
                ),
            };
            prog_methods.push(quote! {
                #[doc = #doc]
                pub fn #tr(&self, packet: &[u8]) -> Result<::ljbpf_runtime::TestRun, ::ljbpf_runtime::Error> {
                    self.inner.test_run(#name, packet, 1)
                }
            });
        }
    }
    let probe_name = &probe.name;
    let source = probe.path.display().to_string();
    let map_names = probe.maps.iter().map(|m| m.name.as_str());
    let requires = probe.requires.iter().map(|r| {
        let (what, since) = (r.what.as_ref(), r.since.as_ref());
        quote!(::ljbpf_runtime::Requirement {
            what: ::std::borrow::Cow::Borrowed(#what),
            since: ::std::borrow::Cow::Borrowed(#since),
        })
    });
    let header = format!("Generated by ljbpf-build from `{source}`. Do not edit.");
    let probe_doc = format!("The loaded `{probe_name}` probe: programs in the kernel, typed maps.");
    let tokens = quote! {
        #[doc = #header]
        pub const SOURCE: &str = #source;

        #(#decls)*

        #(#line_statics)*

        #[doc = "The compiled probe, for ljbpf-runtime."]
        pub static SPEC: ::ljbpf_runtime::ProbeSpec = ::ljbpf_runtime::ProbeSpec {
            name: #probe_name,
            elf: include_bytes!(concat!(env!("OUT_DIR"), "/ljbpf/", #elf_file)),
            programs: &[#(#infos),*],
            maps: &[#(#map_names),*],
            requires: &[#(#requires),*],
        };

        #[doc = #probe_doc]
        pub struct Probe { inner: ::ljbpf_runtime::Probe }

        impl Probe {
            #[doc = "Loads the ELF and every program into the kernel (the verifier runs here)."]
            pub fn load() -> Result<Probe, ::ljbpf_runtime::Error> {
                Ok(Probe { inner: ::ljbpf_runtime::Probe::load(&SPEC)? })
            }
            #[doc = "Attaches every program whose target the probe file names."]
            pub fn attach_all(&mut self) -> Result<(), ::ljbpf_runtime::Error> { self.inner.attach_all() }
            #[doc = "The untyped runtime probe."]
            pub fn inner(&mut self) -> &mut ::ljbpf_runtime::Probe { &mut self.inner }
            #(#prog_methods)*
            #(#map_methods)*
        }
    };
    let file: syn::File = syn::parse2(tokens).map_err(|e| BindingsError {
        map: None,
        message: format!("internal error: generated bindings do not parse: {e}"),
        hint: None,
    })?;
    Ok(prettyplease::unparse(&file))
}
