//! What the stack tools (`profile`, `offcputime`) share: a stack id turned into symbolised
//! frames, and those frames printed bcc-style or as a folded line for flamegraph.pl.

/// `-EFAULT` from `bpf_get_stackid`: no stack of that kind (a kernel thread has no user stack,
/// a sample taken in user mode no kernel stack). Not a miss.
pub const NO_STACK: i32 = -14;

/// The frames of stack `id`, innermost first: `read` gives its addresses, `symbolize` names
/// each (`[unknown]` where no symbol covers the address). `None` when the probe got no stack
/// (`id < 0`) or `read` finds it no longer in the map.
pub fn frames(
    id: i32,
    read: impl FnOnce(u32) -> Option<Vec<u64>>,
    mut symbolize: impl FnMut(u64) -> Option<String>,
) -> Option<Vec<String>> {
    let addrs = read(u32::try_from(id).ok()?)?;
    Some(
        addrs
            .into_iter()
            .map(|addr| symbolize(addr).unwrap_or_else(|| "[unknown]".to_owned()))
            .collect(),
    )
}

/// Appends stack `id`'s frames to a folded line, outermost first; `missed` (e.g. `[Missed
/// User Stack]`) stands for a stack the probe should have had but did not get.
pub fn push_folded(line: &mut Vec<String>, frames: &Option<Vec<String>>, id: i32, missed: &str) {
    match frames {
        Some(frames) => line.extend(frames.iter().rev().cloned()),
        None if id == NO_STACK => {}
        None => line.push(missed.to_owned()),
    }
}

/// Prints stack `id`'s frames one per line, innermost first, as bcc's tools do.
pub fn print_frames(frames: &Option<Vec<String>>, id: i32, missed: &str) {
    match frames {
        Some(frames) => frames.iter().for_each(|f| println!("    {f}")),
        None if id == NO_STACK => {}
        None => println!("    {missed}"),
    }
}
