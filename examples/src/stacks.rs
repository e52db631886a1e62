//! What the stack tools (`profile`, `offcputime`) share: a key's kernel and user stack ids
//! turned into symbolised frames, printed bcc-style or as a folded line for flamegraph.pl.

use ljbpf_runtime::Symbolizer;

/// `-EFAULT` from `bpf_get_stackid`: no stack of that kind (a kernel thread has no user stack,
/// a sample taken in user mode no kernel stack). Not a miss.
pub const NO_STACK: i32 = -14;

/// A task's kernel and user stacks, symbolised, innermost frame first.
pub struct Stacks {
    /// The task's comm.
    pub comm: String,
    kernel: Option<Vec<String>>,
    kernel_id: i32,
    user: Option<Vec<String>>,
    user_id: i32,
}

impl Stacks {
    /// Symbolises stacks `kernel_id` and `user_id` of process `tgid`; `read` gives the
    /// addresses of a stored stack (`None` when it is no longer in the map).
    pub fn read(
        comm: String,
        (kernel_id, user_id): (i32, i32),
        tgid: u32,
        read: impl Fn(u32) -> Option<Vec<u64>>,
        symbols: &mut Symbolizer,
    ) -> Stacks {
        let kernel = frames(kernel_id, &read, |addr| {
            symbols.symbolize_kernel(addr).map(|s| s.name)
        });
        let user = frames(user_id, &read, |addr| {
            symbols.symbolize_user(tgid, addr).map(|s| s.name)
        });
        Stacks {
            comm,
            kernel,
            kernel_id,
            user,
            user_id,
        }
    }

    /// `comm;user frames;kernel frames`, outermost frame first, as flamegraph.pl reads it.
    pub fn folded(&self) -> String {
        let mut line = vec![self.comm.clone()];
        push_folded(&mut line, &self.user, self.user_id, "[Missed User Stack]");
        push_folded(
            &mut line,
            &self.kernel,
            self.kernel_id,
            "[Missed Kernel Stack]",
        );
        line.join(";")
    }

    /// Prints the frames (kernel, then user), the comm and pid, and `count`, as bcc's tools do.
    pub fn print(&self, pid: u32, count: u64) {
        print_frames(&self.kernel, self.kernel_id, "[Missed Kernel Stack]");
        print_frames(&self.user, self.user_id, "[Missed User Stack]");
        println!("    {:<16} {} ({})", "-", self.comm, pid);
        println!("        {count}");
        println!();
    }
}

/// The frames of stack `id`, innermost first (`[unknown]` where no symbol covers the
/// address); `None` when the probe got no stack (`id < 0`) or it is no longer stored.
fn frames(
    id: i32,
    read: &impl Fn(u32) -> Option<Vec<u64>>,
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

/// Appends a stack's frames to a folded line, outermost first; `missed` stands for a stack
/// the probe should have had but did not get.
fn push_folded(line: &mut Vec<String>, frames: &Option<Vec<String>>, id: i32, missed: &str) {
    match frames {
        Some(frames) => line.extend(frames.iter().rev().cloned()),
        None if id == NO_STACK => {}
        None => line.push(missed.to_owned()),
    }
}

fn print_frames(frames: &Option<Vec<String>>, id: i32, missed: &str) {
    match frames {
        Some(frames) => frames.iter().for_each(|f| println!("    {f}")),
        None if id == NO_STACK => {}
        None => println!("    {missed}"),
    }
}
