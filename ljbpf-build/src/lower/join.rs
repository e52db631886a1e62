//! The lattice of slot values at block entries: what a slot holds when paths meet.

use super::*;

/// A slot's value as a block entry sees it: run-time values live in the slot's own register.
pub(super) fn canonical(slot: usize, v: Val) -> Val {
    let own = VReg(slot as u32);
    match v {
        Val::Rt { ty, width, .. } => Val::Rt { v: own, ty, width },
        Val::MapPtr {
            map, ty, nullable, ..
        } => Val::MapPtr {
            v: own,
            map,
            ty,
            nullable,
        },
        Val::Ref { ref ty, .. } if scalar_ty(ty).is_some() => Val::Rt {
            v: own,
            ty: scalar_ty(ty).unwrap_or(Ty::Num),
            width: ty.size() as u8,
        },
        // Values that carry a register (virtual register numbers differ between the passes,
        // so at a join every carried register is the slot's own).
        Val::Ref {
            base: Base::Map(_),
            off,
            ty,
        } => Val::Ref {
            base: Base::Map(own),
            off,
            ty,
        },
        // An element at a run-time index: its checked address (0 when out of range).
        Val::Ref {
            base: Base::Elem(_) | Base::Checked(_),
            off,
            ty,
        } => Val::Ref {
            base: Base::Checked(own),
            off,
            ty,
        },
        Val::RtSlice { .. } => Val::Undef(
            "it is a packet slice with run-time bounds, which cannot be kept across a branch or loop (compare it where it is made)",
        ),
        Val::Ptr { pointee, .. } => Val::Ptr { v: own, pointee },
        Val::Tagged { kinds, .. } => Val::Tagged {
            v: own,
            tag: tag_reg(slot),
            kinds,
        },
        Val::Slice {
            off,
            dynoff: Some(_),
            len,
        } => Val::Slice {
            off,
            dynoff: Some(own),
            len,
        },
        Val::Pkt {
            hdr,
            off,
            dynoff: Some(_),
        } => Val::Pkt {
            hdr,
            off,
            dynoff: Some(own),
        },
        other => other,
    }
}

/// Merges what a slot holds on two incoming edges.
pub(super) fn join(slot: usize, a: &Val, b: &Val) -> Val {
    if a == b {
        return a.clone();
    }
    let own = VReg(slot as u32);
    let ty_of = |v: &Val| match v {
        Val::Rt { ty, .. } => Some(*ty),
        Val::K(c) => const_ty(c),
        _ => None,
    };
    match (a, b) {
        (Val::Undef(why), _) | (_, Val::Undef(why)) => Val::Undef(why),
        (
            Val::MapPtr {
                map,
                ty,
                nullable: n1,
                ..
            },
            Val::MapPtr {
                map: m2,
                nullable: n2,
                ..
            },
        ) if map == m2 => Val::MapPtr {
            v: own,
            map: *map,
            ty: ty.clone(),
            nullable: *n1 || *n2,
        },
        // Dissectors at different places: the difference moves into a run-time offset.
        (
            Val::Pkt {
                hdr: h1, off: o1, ..
            },
            Val::Pkt {
                hdr: h2, off: o2, ..
            },
        ) => Val::Pkt {
            hdr: if h1 == h2 { *h1 } else { Hdr::Data },
            off: (*o1).min(*o2),
            dynoff: Some(own),
        },
        (Val::Ptr { pointee: p1, .. }, Val::Ptr { pointee: p2, .. }) if p1 == p2 => Val::Ptr {
            v: own,
            pointee: p1.clone(),
        },
        (Val::MapPtr { map, ty, .. }, Val::K(Const::Nil))
        | (Val::K(Const::Nil), Val::MapPtr { map, ty, .. }) => Val::MapPtr {
            v: own,
            map: *map,
            ty: ty.clone(),
            nullable: true,
        },
        _ => match (ty_of(a), ty_of(b)) {
            (Some(x), Some(y)) if x == y => {
                let width = match (a, b) {
                    (Val::Rt { width: w1, .. }, Val::Rt { width: w2, .. }) if w1 == w2 => *w1,
                    _ => 0,
                };
                Val::Rt {
                    v: own,
                    ty: x,
                    width,
                }
            }
            _ => match (kinds_of(a), kinds_of(b)) {
                // LuaJIT lets a slot hold nil, booleans and numbers of different types on
                // different paths: a run-time tag says which (the payload in the slot's own
                // register, the tag in its tag register).
                (Some(x), Some(y)) => {
                    let kinds = x.union(y);
                    match kinds.single_ty() {
                        Some(ty) => Val::Rt {
                            v: own,
                            ty,
                            width: 0,
                        },
                        None => Val::Tagged {
                            v: own,
                            tag: tag_reg(slot),
                            kinds,
                        },
                    }
                }
                _ if matches!(a, Val::K(Const::Nil)) || matches!(b, Val::K(Const::Nil)) => {
                    Val::Undef("it is nil on some paths")
                }
                _ => Val::Undef("it holds different kinds of values on different paths"),
            },
        },
    }
}

/// The register that holds slot `slot`'s tag when it holds a [`Val::Tagged`]: after every
/// slot's own register (frames have at most 255 + 4 slots; see `lower`).
pub(super) fn tag_reg(slot: usize) -> VReg {
    VReg(TAG_BASE + slot as u32)
}

/// The kinds a value may be at run time, when it can live in a tagged slot: nil, booleans,
/// numbers and cdata, and map values read as numbers.
pub(super) fn kinds_of(v: &Val) -> Option<Kinds> {
    match v {
        Val::K(Const::Nil) => Some(Kinds::one(Kind::Nil)),
        Val::K(Const::Bool(b)) => Some(Kinds::one(if *b { Kind::True } else { Kind::False })),
        Val::K(c) => const_ty(c)
            .filter(|_| const_int(c).is_some())
            .map(Kinds::of_ty),
        Val::Rt { ty, .. } => Some(Kinds::of_ty(*ty)),
        Val::Ref { ty, .. } => scalar_ty(ty).map(Kinds::of_ty),
        Val::MapPtr { ty, nullable, .. } => {
            let k = Kinds::of_ty(scalar_ty(ty)?);
            Some(if *nullable {
                k.union(Kinds::one(Kind::Nil))
            } else {
                k
            })
        }
        Val::Tagged { kinds, .. } => Some(*kinds),
        _ => None,
    }
}
