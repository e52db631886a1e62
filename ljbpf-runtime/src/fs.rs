//! tracefs and bpffs: check they are mounted, mount them when privileged.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// Where tracefs is mounted on current systems.
const TRACEFS: &str = "/sys/kernel/tracing";
/// Older systems only have it under debugfs.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
/// Where bpffs is conventionally mounted.
const BPFFS: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` from include/uapi/linux/magic.h.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Returns the tracefs mount point, mounting tracefs at `/sys/kernel/tracing` if it is not
/// mounted and we are root.
///
/// Tracepoint attachment (aya reads event ids from `events/<category>/<name>/id`) and kprobe or
/// uprobe events need it. aya caches the path on first use, so call this before attaching.
pub fn ensure_tracefs() -> Result<PathBuf, Error> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    mount_if_root(
        "tracefs",
        Path::new(TRACEFS),
        "run as root: mount -t tracefs nodev /sys/kernel/tracing",
    )?;
    if Path::new(TRACEFS).join("events").is_dir() {
        Ok(PathBuf::from(TRACEFS))
    } else {
        Err(Error::NotMounted {
            fs: "tracefs",
            path: PathBuf::from(TRACEFS),
            hint: "mounted tracefs but it has no events directory; is CONFIG_FTRACE set?".into(),
        })
    }
}

/// Makes sure bpffs is mounted at `/sys/fs/bpf` (needed to pin maps or programs), mounting it
/// if we are root.
pub fn ensure_bpffs() -> Result<(), Error> {
    if is_bpffs(Path::new(BPFFS)) {
        return Ok(());
    }
    mount_if_root(
        "bpf",
        Path::new(BPFFS),
        "run as root: mount -t bpf bpf /sys/fs/bpf",
    )
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` is plain old data; zeroed is a valid value and the kernel fills it.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a valid out pointer.
    let ret = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    #[allow(clippy::unnecessary_cast)] // f_type's integer type differs between libcs
    let magic = stat.f_type as i64;
    ret == 0 && magic == BPF_FS_MAGIC
}

fn mount_if_root(fs: &'static str, path: &Path, hint: &str) -> Result<(), Error> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::NotMounted {
            fs,
            path: path.to_path_buf(),
            hint: hint.to_string(),
        });
    }
    let to_c = |s: &[u8]| {
        CString::new(s).map_err(|_| Error::Mount {
            fs,
            path: path.to_path_buf(),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })
    };
    let source = to_c(if fs == "bpf" { b"bpf" } else { b"nodev" })?;
    let target = to_c(path.as_os_str().as_bytes())?;
    let fstype = to_c(fs.as_bytes())?;
    // SAFETY: all strings are valid NUL-terminated C strings; no mount data is passed.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(Error::Mount {
            fs,
            path: path.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}
