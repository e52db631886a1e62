//! Dissectors whose run-time position flows through branches and loops: moved on one path,
//! carried around a loop, created after an early return.

use ljbpf_tests::{compile_ok, ipv4_frame, kernel_ready, load};

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0x30, 0x39, 0, 53, 0, (8 + payload.len()) as u8, 0, 0];
    u.extend_from_slice(payload);
    ipv4_frame(64, 17, &u)
}

fn run(body: &str, payload: &[u8]) -> u32 {
    let src = format!("return {{ p = bpf.socket(function (skb)\n{body}\nend) }}\n");
    let probe = compile_ok("flow.lua", &src);
    load(&probe).test_run("p", &udp(payload), 1).unwrap().retval
}

#[test]
fn dissector_created_after_an_early_return_is_used_in_a_loop() {
    if !kernel_ready("dissector_after_early_return") {
        return;
    }
    let payload = [1, 0xaa, 1, 0xbb, 1, 0xcc, 0, 0];
    for guard in [
        "if skb.len == 0 then return 0 end",
        "if ntoh(pkt.type) ~= 0x0800 then return 0 end",
    ] {
        let body = format!(
            "  {guard}\n  local data = pkt.ip.udp.data\n  local off = 0\n  for _ = 1, 3 do off = off + data[off] + 1 end\n  return off"
        );
        assert_eq!(run(&body, &payload), 6, "{guard}");
    }
}

#[test]
fn dissector_moved_on_one_branch_and_around_a_loop() {
    if !kernel_ready("dissector_moved_on_one_branch") {
        return;
    }
    let body = "  local d = pkt.ip.udp.data\n  if d[0] > 0 then d = d + d[0] end\n  local q = pkt.ip.udp.data\n  for _ = 1, 3 do q = q + (q[0] + 1) end\n  return d[0] * 1000 + q[0]";
    let payload = [2, 9, 7, 5, 0, 0, 0, 0, 0, 1, 0, 4, 0, 0, 0, 0];
    assert_eq!(run(body, &payload), 7004);
    let payload = [0, 9, 7, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // d stays at the data: d[0] = 0; q: 0 -> 1 -> 11 -> 12 (q[0] = 9 at 1, 0 at 11).
    assert_eq!(run(body, &payload), 0);
}

/// Values moved at a join form a parallel copy: `n = c; c = d` keeps the old `c` in `n`.
#[test]
fn join_moves_do_not_read_overwritten_registers() {
    if !kernel_ready("join_moves_do_not_read_overwritten_registers") {
        return;
    }
    let body = "  local a = ntoh(pkt.ip.src)\n  local c = pkt.ip.udp.data[0]\n  local d = pkt.ip.ttl\n  if a == 1 then a = 5 end\n  local n = c\n  c = d\n  if a == 2 then a = 3 end\n  return n * 1000 + c";
    // ttl 64, first payload byte 9.
    assert_eq!(run(body, &[9, 0, 0, 0]), 9 * 1000 + 64);
}
