//! Kernel semantic tests of maps: lookup, update, delete and `xadd` from probe code, struct
//! values with field updates, per-CPU arrays and LRU hashes; driven by socket filters under
//! `BPF_PROG_TEST_RUN`, read back with aya's typed maps.

use ljbpf_runtime::aya::maps::{HashMap, PerCpuArray};
use ljbpf_runtime::aya::Pod;
use ljbpf_tests::{array_u64, compile_ok, frame, kernel_ready, load, tcp, test_run, Ip4};

const MAPS: &str = r#"
ffi.cdef[[ struct st_t { uint64_t count; uint64_t last; uint32_t small; int32_t neg; }; ]]
local h = bpf.map('hash', 64, 'uint32_t', 'uint64_t')
local arr = bpf.map('array', 8, 'uint32_t', 'uint64_t')
local st = bpf.map('hash', 64, 'uint32_t', 'struct st_t')
local pc = bpf.map('percpu_array', 4, 'uint32_t', 'uint64_t')
local lru = bpf.map('lru_hash', 8, 'uint32_t', 'uint64_t')
return {
  h = h, arr = arr, st = st, pc = pc, lru = lru,
  absent = bpf.socket(function (skb)
    if h[pkt.ip.ttl] == nil then return 1 end
    return 0
  end),
  get = bpf.socket(function (skb)
    local v = h[pkt.ip.ttl]
    if v then return v + 1 end
    return 0
  end),
  update = bpf.socket(function (skb)
    h[pkt.ip.ttl] = ntoh(pkt.ip.src)
    return 0
  end),
  delete = bpf.socket(function (skb)
    h[pkt.ip.ttl] = nil
    return 0
  end),
  hadd = bpf.socket(function (skb)
    local k = pkt.ip.ttl
    local v = h[k]
    if v then xadd(v, ntoh(pkt.ip.src)) else h[k] = 1000 end
    return 0
  end),
  aadd = bpf.socket(function (skb)
    local v = arr[pkt.ip.ttl]
    if v then xadd(v, ntoh(pkt.ip.src)) return 1 end
    return 0
  end),
  stupd = bpf.socket(function (skb)
    local k = pkt.ip.ttl
    local n = ntoh(pkt.ip.src)
    local v = st[k]
    if v then
      v.count = v.count + 1
      v.last = n
      v.neg = v.neg - 1
      return 2
    else
      local s = ffi.new('struct st_t')
      s.count = 1
      s.last = n
      s.small = 7
      s.neg = -1
      st[k] = s
      return 1
    end
  end),
  pcadd = bpf.socket(function (skb)
    local v = pc[pkt.ip.ttl]
    if v then xadd(v, ntoh(pkt.ip.src)) end
    return 0
  end),
  lruput = bpf.socket(function (skb)
    lru[ntoh(pkt.ip.dst)] = ntoh(pkt.ip.src)
    return 0
  end),
}
"#;

/// The value type of `st` in the probe above.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct St {
    count: u64,
    last: u64,
    small: u32,
    neg: i32,
}
// SAFETY: repr(C), plain integers, no padding (8 + 8 + 4 + 4).
unsafe impl Pod for St {}

/// A packet with key `ttl` and value `ip.src`, `ip.dst`.
fn kv(key: u8, value: u32, dst: u32) -> Vec<u8> {
    let mut ip = Ip4::new(6);
    ip.ttl = key;
    ip.src = value;
    ip.dst = dst;
    frame(0x0800, &ip.with(&tcp(1, 2, 3, 0)))
}

#[test]
fn map_lookup_update_delete_and_xadd() {
    if !kernel_ready("map_lookup_update_delete_and_xadd") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    let hget = |p: &mut ljbpf_runtime::Probe, k: u32| -> Option<u64> {
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("h").unwrap()).unwrap();
        m.get(&k, 0).ok()
    };

    // Absent → nil.
    assert_eq!(test_run(&p, "absent", &kv(5, 0, 0)), 1);
    assert_eq!(test_run(&p, "get", &kv(5, 0, 0)), 0);
    // Update from the program, seen from Rust and from the program.
    assert_eq!(test_run(&p, "update", &kv(5, 0x1234_5678, 0)), 0);
    assert_eq!(hget(&mut p, 5), Some(0x1234_5678));
    assert_eq!(test_run(&p, "absent", &kv(5, 0, 0)), 0);
    assert_eq!(test_run(&p, "get", &kv(5, 0, 0)), 0x1234_5679);
    // Update from Rust, seen by the program.
    {
        let mut m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("h").unwrap()).unwrap();
        m.insert(9, 41, 0).unwrap();
    }
    assert_eq!(test_run(&p, "get", &kv(9, 0, 0)), 42);
    // Overwrite.
    test_run(&p, "update", &kv(5, 0xffff_ffff, 0));
    assert_eq!(hget(&mut p, 5), Some(0xffff_ffff));
    // Delete.
    test_run(&p, "delete", &kv(5, 0, 0));
    assert_eq!(hget(&mut p, 5), None);
    assert_eq!(test_run(&p, "absent", &kv(5, 0, 0)), 1);
    assert_eq!(hget(&mut p, 9), Some(41), "delete removed only its key");
    // Deleting an absent key is harmless.
    test_run(&p, "delete", &kv(5, 0, 0));
    assert_eq!(hget(&mut p, 5), None);

    // xadd on a hash value: first call inserts 1000, later ones add.
    test_run(&p, "hadd", &kv(20, 7, 0));
    assert_eq!(hget(&mut p, 20), Some(1000));
    for v in [7u32, 100, 0xffff_ffff] {
        test_run(&p, "hadd", &kv(20, v, 0));
    }
    assert_eq!(hget(&mut p, 20), Some(1000 + 7 + 100 + 0xffff_ffff));

    // xadd on an array value; an index out of range is a nil lookup.
    for (k, v) in [
        (0u8, 5u32),
        (3, 1),
        (3, 2),
        (7, 0x8000_0000),
        (7, 0x8000_0000),
    ] {
        assert_eq!(test_run(&p, "aadd", &kv(k, v, 0)), 1);
    }
    assert_eq!(
        test_run(&p, "aadd", &kv(8, 1, 0)),
        0,
        "arr[8] is out of range"
    );
    let arr = array_u64(&mut p, "arr");
    let got: Vec<u64> = (0..8).map(|i| arr.get(&i, 0).unwrap()).collect();
    assert_eq!(got, [5, 0, 0, 3, 0, 0, 0, 0x1_0000_0000]);
}

#[test]
fn map_struct_values_with_field_updates() {
    if !kernel_ready("map_struct_values_with_field_updates") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    assert_eq!(test_run(&p, "stupd", &kv(3, 111, 0)), 1);
    let get = |p: &mut ljbpf_runtime::Probe, k: u32| -> Option<St> {
        let m: HashMap<_, u32, St> = HashMap::try_from(p.map_mut("st").unwrap()).unwrap();
        m.get(&k, 0).ok()
    };
    assert_eq!(
        get(&mut p, 3),
        Some(St {
            count: 1,
            last: 111,
            small: 7,
            neg: -1
        })
    );
    for v in [222u32, 333, 0xffff_fffe] {
        assert_eq!(test_run(&p, "stupd", &kv(3, v, 0)), 2);
    }
    assert_eq!(
        get(&mut p, 3),
        Some(St {
            count: 4,
            last: 0xffff_fffe,
            small: 7,
            neg: -4
        })
    );
    // A Rust-written value is updated in place by the program.
    {
        let mut m: HashMap<_, u32, St> = HashMap::try_from(p.map_mut("st").unwrap()).unwrap();
        m.insert(
            4,
            St {
                count: u64::MAX,
                last: 1,
                small: 99,
                neg: i32::MIN,
            },
            0,
        )
        .unwrap();
    }
    assert_eq!(test_run(&p, "stupd", &kv(4, 5, 0)), 2);
    assert_eq!(
        get(&mut p, 4),
        Some(St {
            count: 0,
            last: 5,
            small: 99,
            neg: i32::MAX
        }),
        "count wraps as uint64, neg wraps as int32"
    );
    assert_eq!(
        get(&mut p, 3).map(|s| s.count),
        Some(4),
        "other key untouched"
    );
}

#[test]
fn percpu_array_and_lru_hash() {
    if !kernel_ready("percpu_array_and_lru_hash") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    let mut want = 0u64;
    for v in [1u32, 10, 100, 0xffff_ffff] {
        test_run(&p, "pcadd", &kv(2, v, 0));
        want += u64::from(v);
    }
    test_run(&p, "pcadd", &kv(4, 1, 0)); // out of range: nothing
    {
        let pc: PerCpuArray<_, u64> = PerCpuArray::try_from(p.map_mut("pc").unwrap()).unwrap();
        let sum: u64 = pc.get(&2, 0).unwrap().iter().sum();
        assert_eq!(sum, want);
        for k in [0u32, 1, 3] {
            assert_eq!(pc.get(&k, 0).unwrap().iter().sum::<u64>(), 0, "pc[{k}]");
        }
    }

    // lru_hash with 8 entries: inserting 100 keys never fails, keeps at most 8 entries, and the
    // newest key is there with its value.
    for k in 0..100u32 {
        assert_eq!(test_run(&p, "lruput", &kv(1, k * 3 + 1, 0x1000 + k)), 0);
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("lru").unwrap()).unwrap();
        assert_eq!(
            m.get(&(0x1000 + k), 0).ok(),
            Some(u64::from(k * 3 + 1)),
            "key {k}"
        );
    }
    let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("lru").unwrap()).unwrap();
    let entries: Vec<(u32, u64)> = m.iter().filter_map(Result::ok).collect();
    assert!(
        !entries.is_empty() && entries.len() <= 8,
        "lru entries: {entries:?}"
    );
    for (k, v) in entries {
        assert_eq!(v, u64::from((k - 0x1000) * 3 + 1));
    }
}
