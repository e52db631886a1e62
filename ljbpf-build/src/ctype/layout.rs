//! Struct and union layout: offsets, sizes, alignment and bitfields, as LuaJIT computes them.

use super::parse::{Attrs, FieldDecl};
use super::{int, CType, Field, StructDef, MAX_DEPTH};

/// Lays out a struct or union with LuaJIT's `cp_struct_layout` rules (x86-64). Offsets are
/// tracked in bits because of bitfields.
pub(super) fn layout(
    line: u32,
    name: Option<String>,
    is_union: bool,
    decls: Vec<FieldDecl>,
    sattrs: Attrs,
) -> Result<StructDef, (u32, String)> {
    let mut bofs: u64 = 0;
    let mut bmax: u64 = 0;
    let mut maxalign: u64 = u64::from(sattrs.aligned.unwrap_or(1));
    let mut fields = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let count = decls.len();
    for (i, d) in decls.into_iter().enumerate() {
        let label = d.name.clone().unwrap_or_else(|| "<unnamed>".into());
        match &d.ty {
            CType::Void => return Err((d.line, format!("field `{label}` has type void"))),
            CType::Opaque { name, is_union } => {
                return Err((
                    d.line,
                    format!(
                        "field `{label}` has incomplete type `{} {name}` (define it first, or use a pointer)",
                        if *is_union { "union" } else { "struct" }
                    ),
                ))
            }
            CType::Array(_, 0) if i + 1 != count && !is_union => {
                return Err((
                    d.line,
                    format!("flexible array `{label}[]` must be the last field"),
                ))
            }
            _ => {}
        }
        let sz = u64::from(d.ty.size());
        let mut csz = 8 * sz;
        let mut align = u64::from(d.ty.align());
        let packed = d.attrs.packed || sattrs.packed;
        let field_aligned = d.attrs.aligned.map(u64::from);
        if packed {
            align = field_aligned.unwrap_or(1);
        } else if let Some(a) = field_aligned {
            align = align.max(a);
        }
        let amask = 8 * align - 1;
        // Zero-width bitfields do not raise the struct's alignment (LuaJIT and GCC agree).
        if d.bits != Some(0) && align > maxalign {
            maxalign = align;
        }
        let (offset, bits, ty, bsz);
        match d.bits {
            None => {
                bofs = (bofs + amask) & !amask;
                offset = bofs / 8;
                bits = None;
                ty = d.ty;
                bsz = csz;
            }
            Some(w) => {
                let w = u64::from(w);
                if w == 0 || field_aligned.is_some() || (!packed && (bofs & amask) + w > csz) {
                    bofs = (bofs + amask) & !amask;
                }
                if w == csz && bofs & amask == 0 {
                    // "Prefer regular field over bitfield."
                    offset = bofs / 8;
                    bits = None;
                    ty = d.ty;
                } else {
                    let mut ty2 = d.ty;
                    if csz > amask + 1 && w <= amask + 1 {
                        // "Shrink container of packed bitfield."
                        csz = amask + 1;
                        if let CType::Int { signed, .. } = ty2 {
                            ty2 = int((csz / 8) as u8, signed);
                        }
                    }
                    offset = (bofs & !(csz - 1)) / 8;
                    bits = Some(((bofs & (csz - 1)) as u8, w as u8));
                    ty = ty2;
                }
                bsz = w;
            }
        }
        if is_union {
            bmax = bmax.max(bsz);
        } else {
            bofs += bsz;
        }
        if bofs > u64::from(u32::MAX) * 8 || bmax > u64::from(u32::MAX) * 8 {
            return Err((d.line, "struct is too large".into()));
        }
        if d.bits != Some(0) && (d.name.is_some() || d.bits.is_none()) {
            let new_names = match (&d.name, &ty) {
                (Some(n), _) => vec![n.clone()],
                (None, CType::Struct(inner)) => inner.field_names(),
                (None, _) => Vec::new(),
            };
            for n in new_names {
                if names.contains(&n) {
                    return Err((d.line, format!("duplicate field `{n}`")));
                }
                names.push(n);
            }
            fields.push(Field {
                name: d.name.unwrap_or_default(),
                ty,
                offset: u32::try_from(offset).unwrap_or(u32::MAX),
                bits,
            });
        }
    }
    let end = if is_union { bmax } else { bofs };
    let amask = 8 * maxalign - 1;
    let size = ((end + amask) & !amask) / 8;
    let size = u32::try_from(size).map_err(|_| (line, "struct is too large".to_string()))?;
    // Walks over types (BTF, bindings, lowering) recurse through members: a bound on how
    // deeply structs contain structs keeps them shallow, however long a chain a file declares.
    let depth = 1 + fields.iter().map(|f| f.ty.depth()).max().unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err((
            line,
            format!("structs nested more than {MAX_DEPTH} deep (a struct member of a struct member of ...)"),
        ));
    }
    let def = StructDef {
        name,
        typedef_name: None,
        is_union,
        fields,
        size,
        align: u32::try_from(maxalign).unwrap_or(u32::MAX),
        depth,
    };
    Ok(def)
}

#[cfg(test)]
mod tests {
    use crate::ctype::tests::cdef;
    use crate::ctype::CType;

    #[test]
    fn bitfields() {
        let t = cdef("struct b { unsigned a:3, b:5; unsigned c:30; unsigned d:32; char e; };");
        let s = t.parse_type("struct b").unwrap_or(CType::Void);
        assert_eq!(
            s.field("a").map(|f| (f.offset, f.bits)),
            Some((0, Some((0, 3))))
        );
        assert_eq!(
            s.field("b").map(|f| (f.offset, f.bits)),
            Some((0, Some((3, 5))))
        );
        assert_eq!(
            s.field("c").map(|f| (f.offset, f.bits)),
            Some((4, Some((0, 30))))
        );
        assert_eq!(s.field("d").map(|f| (f.offset, f.bits)), Some((8, None)));
        assert_eq!(s.field("e").map(|f| f.offset), Some(12));
        assert_eq!(s.size(), 16);
    }
}
