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
                self.edge_moves(&st, want);
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
                self.edge_moves(&taken.1, want);
            }
            let taken_moves: Vec<_> = self.code.insns.drain(mark..).collect();
            // Labels bound inside the moves (a load of an element at a run-time index checks
            // it) move with them: keep them relative to the moves' start.
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
                    self.edge_moves(&fall.1, want);
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
    fn edge_moves(&mut self, have: &State, want: &State) {
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
            let wants_reg = matches!(w, Val::Rt { v, .. } | Val::MapPtr { v, .. } if *v == own);
            if !wants_reg {
                continue;
            }
            match h {
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
        for (d, k) in consts {
            self.mov_imm(d, k);
        }
    }
}
