//! What a probe needs of the kernel that loads it: each feature it uses (a map kind, a helper,
//! a program kind, the ISA level) with the first Linux version that has it. The runtime uses
//! this to explain a failed load ("ring buffers need Linux 5.8 or later; this kernel is 5.4")
//! instead of showing a bare errno. It never refuses a load by version: distribution kernels
//! (RHEL's 5.14, for one) carry features of later versions.

use crate::program::Name;

/// One feature a probe uses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    /// What it is, for a message: `ring buffer map \`events\``, `helper bpf_probe_read_kernel`.
    pub what: Name,
    /// The first Linux version that has it, `major.minor`.
    pub since: Name,
}

/// `major.minor` of a kernel release string (`6.1.0-27-amd64` → `(6, 1)`).
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl Requirement {
    /// Whether a kernel of release `running` is older than the feature.
    pub fn unmet_on(&self, running: &str) -> bool {
        match (version(running), version(&self.since)) {
            (Some(have), Some(need)) => have < need,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version("6.1.0-27-amd64"), Some((6, 1)));
        assert_eq!(version("5.14.0-427.el9.x86_64"), Some((5, 14)));
        let ringbuf = Requirement {
            what: "ring buffer".into(),
            since: "5.8".into(),
        };
        assert!(ringbuf.unmet_on("5.4.0"));
        assert!(!ringbuf.unmet_on("5.14.0"));
        assert!(!ringbuf.unmet_on("garbage"));
    }
}
