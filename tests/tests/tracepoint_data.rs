//! `__data_loc` strings read from a tracepoint record: `ffi.copy(buf, ctx.filename)` on
//! `sched/sched_process_exec` copies the path of a real exec.

use ljbpf_runtime::aya::maps::Array;
use ljbpf_tests::{compile_ok, kernel_ready, load};

const PROBE: &str = r#"
ffi.cdef[[ struct name_t { char s[64]; }; ]]
local last = bpf.map('array', 1, 'uint32_t', 'struct name_t')
local seen = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  last = last,
  seen = seen,
  on_exec = bpf.tracepoint('sched/sched_process_exec', function (ctx)
    local n = ffi.new('struct name_t')
    ffi.copy(n.s, ctx.filename)
    if n.s == '/bin/true' then
      last[0] = n
      local c = seen[0]
      if c then xadd(c, 1) end
    end
  end),
}
"#;

#[test]
fn data_loc_strings_are_copied_from_the_record() {
    if !kernel_ready("data_loc_strings_are_copied_from_the_record") {
        return;
    }
    let probe = compile_ok("data_loc.lua", PROBE);
    let mut loaded = load(&probe);
    loaded.attach_all().expect("attach");
    for _ in 0..3 {
        let status = std::process::Command::new("/bin/true").status().unwrap();
        assert!(status.success());
    }
    let seen: Array<_, u64> = Array::try_from(loaded.map("seen").unwrap()).unwrap();
    assert!(seen.get(&0, 0).unwrap() >= 3, "execs of /bin/true seen");
    let last: Array<_, [u8; 64]> = Array::try_from(loaded.map("last").unwrap()).unwrap();
    let bytes = last.get(&0, 0).unwrap();
    let s: Vec<u8> = bytes.iter().copied().take_while(|b| *b != 0).collect();
    assert_eq!(String::from_utf8_lossy(&s), "/bin/true");
}
