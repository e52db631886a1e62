//! Control-flow edges: jumps between blocks and the moves that put each slot where the
//! successor expects it.

use super::*;

impl Lowerer<'_> {
    /// Records an edge; when emitting, moves values to where the successor expects them and
    /// jumps unless the successor comes next.
    pub(super) fn emit_edge(
        &mut self,
        st: State,
        succ: usize,
        from: usize,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
        edges: &mut Vec<(usize, State)>,
        _explicit: bool,
    ) {
        if let Some((entry, labels)) = targets {
            if let Some(want) = &entry[succ] {
                self.edge_moves(succ, &st, want);
            }
            if succ != from + 1 || !self.next_emitted(entry, from, succ) {
                self.e(Insn::Ja {
                    target: labels[succ],
                });
            }
        }
        edges.push((succ, st));
    }

    /// Whether `succ` is the next block that gets code after `from`.
    fn next_emitted(&self, entry: &[Option<State>], from: usize, succ: usize) -> bool {
        (from + 1..entry.len()).find(|&i| entry[i].is_some()) == Some(succ)
    }

    pub(super) fn emit_branch(
        &mut self,
        cond: Cond,
        taken: (usize, State),
        fall: (usize, State),
        from: usize,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
        edges: &mut Vec<(usize, State)>,
    ) {
        let (op, a, bsrc) = match cond {
            Cond::Known(true) => {
                return self.emit_edge(taken.1, taken.0, from, targets, edges, true)
            }
            Cond::Known(false) => {
                return self.emit_edge(fall.1, fall.0, from, targets, edges, false)
            }
            Cond::Test { op, a, b } => (op, a, b),
        };
        let bsrc = rsrc(bsrc);
        if let Some((entry, labels)) = targets {
            // if cond goto T' ; <moves to fall> ; goto F ; T': <moves to taken> ; goto T
            let mark = self.code.insns.len();
            let first_label = self.code.labels.len();
            if let Some(want) = &entry[taken.0] {
                self.edge_moves(taken.0, &taken.1, want);
            }
            let taken_moves: Vec<_> = self.code.insns.drain(mark..).collect();
            // Labels bound inside the moves (a load of an element at a run-time index checks
            // it, a tagged slot filled from a map value) move with them: keep them relative to
            // the moves' start.
            let moved_labels: Vec<(usize, usize)> = (first_label..self.code.labels.len())
                .filter_map(|l| Some((l, self.code.labels[l]? - mark)))
                .collect();
            if taken_moves.is_empty() {
                self.e(Insn::Jmp {
                    op,
                    dst: R::V(a),
                    src: bsrc,
                    target: labels[taken.0],
                });
                self.emit_edge(fall.1, fall.0, from, targets, edges, false);
            } else {
                let t2 = self.code.label();
                self.e(Insn::Jmp {
                    op,
                    dst: R::V(a),
                    src: bsrc,
                    target: t2,
                });
                if let Some(want) = &entry[fall.0] {
                    self.edge_moves(fall.0, &fall.1, want);
                }
                self.e(Insn::Ja {
                    target: labels[fall.0],
                });
                self.code.bind(t2);
                let start = self.code.insns.len();
                for (l, rel) in moved_labels {
                    self.code.labels[l] = Some(start + rel);
                }
                self.code.insns.extend(taken_moves);
                self.e(Insn::Ja {
                    target: labels[taken.0],
                });
                edges.push((fall.0, fall.1));
            }
        } else {
            edges.push((fall.0, fall.1));
        }
        edges.push((taken.0, taken.1));
    }

    /// Puts run-time values where the successor's entry state expects them.
    /// Puts values where the successor's entry state expects them. The moves form a parallel
    /// copy (`n = c; c = d` must not read the new `c`): values that need computing are computed
    /// first, then register moves are ordered so that none overwrites a register another move
    /// still reads, and cycles go through a temporary; constants come last.
    fn edge_moves(&mut self, succ: usize, have: &State, want: &State) {
        self.note_safe_offsets(succ, have, want);
        let mut moves: Vec<(VReg, VReg)> = Vec::new();
        let mut consts: Vec<(VReg, i64)> = Vec::new();
        for (s, w) in want.iter().enumerate() {
            let own = VReg(s as u32);
            let Some(h) = have.get(s) else { continue };
            // Carried registers: a dissector's run-time offset (plus the constant part that
            // differs), a pointer, a slice's offset, the map value under a field.
            match (w, h) {
                (
                    Val::Pkt {
                        off: wo,
                        dynoff: Some(wd),
                        ..
                    },
                    Val::Pkt {
                        off: ho,
                        dynoff: hd,
                        ..
                    },
                ) if *wd == own => {
                    match hd {
                        Some(v) if ho != wo => {
                            let t = self.tmp();
                            self.mov(t, *v);
                            self.alu(AluOp::Add, t, Src::Imm(ho - wo));
                            moves.push((own, t));
                        }
                        Some(v) => moves.push((own, *v)),
                        None => consts.push((own, i64::from(ho - wo))),
                    }
                    continue;
                }
                (Val::Ptr { v: wv, .. }, Val::Ptr { v: hv, .. })
                | (
                    Val::Slice {
                        dynoff: Some(wv), ..
                    },
                    Val::Slice {
                        dynoff: Some(hv), ..
                    },
                )
                | (
                    Val::Ref {
                        base: Base::Map(wv),
                        ..
                    },
                    Val::Ref {
                        base: Base::Map(hv),
                        ..
                    },
                ) if *wv == own => {
                    moves.push((own, *hv));
                    continue;
                }
                (
                    Val::Ref {
                        base: Base::Checked(wv),
                        ..
                    },
                    Val::Ref { base: hb, .. },
                ) if *wv == own => {
                    match hb {
                        Base::Checked(hv) => moves.push((own, *hv)),
                        // Computed now, before any move overwrites what it reads.
                        hb => {
                            if let Ok(t) = self.checked_address(hb) {
                                moves.push((own, t));
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Val::Tagged { v, tag, .. } = w {
                if *v == own {
                    self.tagged_move(h, (own, *tag), &mut moves, &mut consts);
                    continue;
                }
            }
            let wants_reg = matches!(w, Val::Rt { v, .. } | Val::MapPtr { v, .. } if *v == own);
            if !wants_reg {
                continue;
            }
            match h {
                // A map value where the join reads it as a number (`m[k] or 1`).
                Val::MapPtr { .. } if matches!(w, Val::Rt { .. }) => {
                    if let Ok(o) = self.operand(h.clone()) {
                        let t = self.reg_of(o);
                        moves.push((own, t));
                    }
                }
                Val::Rt { v, .. } | Val::MapPtr { v, .. } => moves.push((own, *v)),
                Val::K(Const::Nil) => consts.push((own, 0)),
                Val::K(c) => {
                    if let Some(k) = const_int(c) {
                        consts.push((own, k));
                    }
                }
                Val::Ref { .. } => {
                    // Loaded now, before any move overwrites the register it is read through.
                    if let Ok(o) = self.operand(h.clone()) {
                        let t = self.reg_of(o);
                        moves.push((own, t));
                    }
                }
                _ => {}
            }
        }
        moves.retain(|(d, s)| d != s);
        self.parallel_copy(moves);
        for (d, k) in consts {
            self.mov_imm(d, k);
        }
    }

    /// Records which slots of `succ`'s entry hold a dissector offset that is safe to load
    /// through (see `ld_packet`) on this edge: the carried offset is safe and the constant
    /// part that moves into it is small and non-negative. A block entered only by forward
    /// edges starts with the slots safe on all of them (`enter_block`).
    fn note_safe_offsets(&mut self, succ: usize, have: &State, want: &State) {
        let safe: Vec<bool> = want
            .iter()
            .enumerate()
            .map(|(s, w)| match (w, have.get(s)) {
                (
                    Val::Pkt {
                        off: wo,
                        dynoff: Some(wd),
                        ..
                    },
                    Some(Val::Pkt {
                        off: ho,
                        dynoff: hd,
                        ..
                    }),
                ) if *wd == VReg(s as u32) => {
                    (0..=0xffff).contains(&(i64::from(*ho) - i64::from(*wo)))
                        && hd.is_none_or(|d| self.safe_offsets.contains(&d))
                }
                // A slice's register moves as it is (slices meet only at the same offset).
                (
                    Val::Slice {
                        dynoff: Some(wd), ..
                    },
                    Some(Val::Slice {
                        dynoff: Some(hd), ..
                    }),
                ) if *wd == VReg(s as u32) => self.safe_offsets.contains(hd),
                _ => false,
            })
            .collect();
        let e = self.edge_safe.entry(succ).or_insert_with(|| safe.clone());
        for (a, b) in e.iter_mut().zip(safe) {
            *a = *a && b;
        }
        // A block entered from one place keeps the registers where they are: the facts
        // about the slots' own registers are those of this point.
        let own: Vec<VReg> = (0..want.len() as u32)
            .map(VReg)
            .filter(|r| self.safe_offsets.contains(r))
            .collect();
        self.edge_own.insert(succ, own);
    }

    /// At the start of block `b` in the emitting pass: the slots' own registers carry the
    /// offsets found safe on every edge into it, when every edge into it is a forward edge
    /// (all already emitted); otherwise none.
    pub(super) fn enter_block(&mut self, b: usize, preds: &[usize], nslots: usize, direct: bool) {
        for s in 0..nslots {
            self.safe_offsets.remove(&VReg(s as u32));
        }
        if direct {
            if let Some(own) = self.edge_own.get(&b) {
                self.safe_offsets.extend(own.iter().copied());
            }
            return;
        }
        if preds.iter().any(|p| *p >= b) {
            return;
        }
        if let Some(safe) = self.edge_safe.get(&b) {
            for (s, ok) in safe.iter().enumerate() {
                if *ok {
                    self.safe_offsets.insert(VReg(s as u32));
                }
            }
        }
    }

    /// What putting `have` into a tagged slot (payload and tag registers `dst`) takes:
    /// register moves, constants, and code computed before them (a tag from a boolean, a
    /// value loaded through a map pointer that may be nil).
    fn tagged_move(
        &mut self,
        have: &Val,
        (v, tag): (VReg, VReg),
        moves: &mut Vec<(VReg, VReg)>,
        consts: &mut Vec<(VReg, i64)>,
    ) {
        match have {
            Val::Tagged { v: hv, tag: ht, .. } => {
                moves.push((v, *hv));
                moves.push((tag, *ht));
            }
            Val::K(Const::Nil) => {
                consts.push((v, 0));
                consts.push((tag, Kind::Nil.tag()));
            }
            Val::K(Const::Bool(b)) => {
                consts.push((v, i64::from(*b)));
                consts.push((tag, 1 + i64::from(*b)));
            }
            Val::K(c) => {
                let (Some(k), Some(kind)) = (const_int(c), const_ty(c).and_then(Kind::of_num))
                else {
                    return;
                };
                consts.push((v, k));
                consts.push((tag, kind.tag()));
            }
            Val::Rt { v: hv, ty, .. } => {
                moves.push((v, *hv));
                match Kind::of_num(*ty) {
                    Some(k) => consts.push((tag, k.tag())),
                    None => {
                        // false = 1, true = 2
                        let t = self.tmp();
                        self.mov(t, *hv);
                        self.alu(AluOp::Add, t, Src::Imm(1));
                        moves.push((tag, t));
                    }
                }
            }
            Val::MapPtr {
                v: p, ty, nullable, ..
            } => {
                let Some(kind) = scalar_ty(ty).and_then(Kind::of_num) else {
                    return;
                };
                let (tv, tt) = (self.tmp(), self.tmp());
                let done = self.code.label();
                if *nullable {
                    self.mov_imm(tv, 0);
                    self.mov_imm(tt, Kind::Nil.tag());
                    self.e(Insn::Jmp {
                        op: JmpOp::Jeq,
                        dst: R::V(*p),
                        src: Src::Imm(0),
                        target: done,
                    });
                }
                if let Ok(o) = self.load(Base::Map(*p), 0, ty) {
                    let r = self.reg_of(o);
                    self.mov(tv, r);
                }
                self.mov_imm(tt, kind.tag());
                self.code.bind(done);
                moves.push((v, tv));
                moves.push((tag, tt));
            }
            Val::Ref { ty, .. } => {
                let Some(kind) = scalar_ty(ty).and_then(Kind::of_num) else {
                    return;
                };
                if let Ok(o) = self.operand(have.clone()) {
                    let r = self.reg_of(o);
                    moves.push((v, r));
                    consts.push((tag, kind.tag()));
                }
            }
            _ => {}
        }
    }

    /// Register moves as a parallel copy.
    fn parallel_copy(&mut self, mut moves: Vec<(VReg, VReg)>) {
        while !moves.is_empty() {
            let ready = moves
                .iter()
                .position(|(d, _)| !moves.iter().any(|(_, s)| s == d));
            match ready {
                Some(i) => {
                    let (d, s) = moves.remove(i);
                    self.mov(d, s);
                }
                None => {
                    // A cycle: save one destination's value and read it from the copy.
                    let (d, _) = moves[0];
                    let t = self.tmp();
                    self.mov(t, d);
                    for m in moves.iter_mut() {
                        if m.1 == d {
                            m.1 = t;
                        }
                    }
                }
            }
        }
    }
}
