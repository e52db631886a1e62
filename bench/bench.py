#!/usr/bin/env python3
"""ljbpf vs clang -O2 benchmark: builds both objects of every twin, loads them with bpftool,
measures them and writes bench/REPORT.md (and bench/out/results.json). Run by bench/run."""
import json, math, os, platform, re, shutil, statistics, struct, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
OUT = os.path.join(BENCH, "out")
PIN = "/sys/fs/bpf/ljbpf_bench"
LJBPF = os.environ.get("LJBPF", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "ljbpf"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "12"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "1000000"))
# Each object is loaded this many times for timing and the rounds go round the loads: the x86
# JIT puts each program image at a random offset, which alone moves ns/run by up to 10-15%.
LOADS = int(os.environ.get("BENCH_LOADS", "4"))
CFLAGS = ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I/usr/include/x86_64-linux-gnu", "-I" + os.path.join(BENCH, "c")]

# name, Lua probe, programs (Lua table key == C function name), kind, timing packet, setup
PROGRAMS = [
    ("andor", "tests/corpus/andor.lua", ["andor"], "socket", "tcp_syn", None),
    ("arith", "tests/corpus/arith.lua", ["arith"], "socket", "tcp_syn", None),
    ("bits", "tests/corpus/bits.lua", ["bits"], "socket", "tcp_syn", None),
    ("compare", "tests/corpus/compare.lua", ["compare"], "socket", "tcp_syn", None),
    ("loops", "tests/corpus/loops.lua", ["p"], "socket", "ttl27", None),
    ("packet", "tests/corpus/packet.lua", ["classify"], "socket", "dns", None),
    ("seed_dns", "tests/corpus/seed_dns.lua", ["prog"], "socket", "dns", None),
    ("seed_http", "tests/corpus/seed_http.lua", ["prog"], "socket", "http_get", None),
    ("syscount", "tests/corpus/syscount.lua", ["on_enter"], "tracepoint", None, None),
    ("sockproto", "examples/probes/sockproto.lua", ["count"], "socket", "dns", None),
    ("readlat", "examples/probes/readlat.lua", ["on_enter", "on_exit"], "tracepoint", None, None),
    ("dnshist", "examples/probes/dnshist.lua", ["dns"], "socket", "dns", ("config", 0, 53)),
    ("csum", "bench/lua/csum.lua", ["csum"], "socket", "payload", None),
    ("xdpfw", "examples/probes/xdpfw.lua", ["fw"], "xdp", "dns", None),
    ("tc", "tests/corpus/tc.lua", ["ingress", "egress"], "tc", "dns", None),
]

# BENCH_ONLY=name,name runs only those twins (the report then has only their rows).
ONLY = [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
PROGRAMS = [p for p in PROGRAMS if not ONLY or p[0] in ONLY]

# Kinds BPF_PROG_TEST_RUN runs; XDP and tc programs see the frame from its first byte.
RUNNABLE = ("socket", "xdp", "tc")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- packets
def csum16(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def eth(t):
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", t)


def ipv4(proto, payload, ttl=64, tos=0, ihl=5):
    opts = b"\x01" * ((ihl - 5) * 4)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(opts) + len(payload), 1, 0, ttl, proto, 0,
                    bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + opts
    h = h[:10] + struct.pack("!H", csum16(h)) + h[12:]
    return eth(0x0800) + h + payload


def udp(dport, data, sport=40000):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(dport, flags, data=b"", sport=40000):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + data


def dns_query(qtype=1, labels=(b"www", b"example", b"com")):
    q = b"".join(bytes([len(l)]) + l for l in labels) + b"\0" + struct.pack("!HH", qtype, 1)
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + q


def ipv6(nh, payload):
    return eth(0x86dd) + struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + b"\0" * 15 + b"\1" + b"\0" * 15 + b"\2" + payload


def packets():
    import random
    rnd = random.Random(11)
    P = {
        "tcp_syn": ipv4(6, tcp(80, 0x02), ttl=200, tos=0x10),
        "tcp_synack": ipv4(6, tcp(443, 0x12), ttl=101, tos=3),
        "http_get": ipv4(6, tcp(80, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ttl=5),
        "http_resp": ipv4(6, tcp(40000, 0x18, b"HTTP/1.1 200 OK\r\n\r\n", sport=80), ttl=128, tos=3),
        "dns": ipv4(17, udp(53, dns_query(1)), ttl=64),
        "dns_aaaa_long": ipv4(17, udp(53, dns_query(28, (b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", b"k")))),
        "dns_mx_opts": ipv4(17, udp(53, dns_query(15, (b"mail", b"org"))), ihl=7, ttl=51),
        "dns_other_port": ipv4(17, udp(5353, dns_query(12)), ttl=17),
        "payload": ipv4(17, udp(9999, bytes((i * 7 + 0x30) & 0xff if i % 5 else 0x41 for i in range(128))), ttl=33),
        "udp_short": ipv4(17, udp(9999, b"AAAA"), ttl=17, tos=17),
        "ttl27": ipv4(17, udp(9999, b"x" * 8), ttl=27),
        "ttl_eq_proto": ipv4(6, tcp(22, 0x10), ttl=6, tos=6),
        "ttl64_tos0": ipv4(6, tcp(22, 0x10), ttl=64, tos=0),
        "ipv6_udp": ipv6(17, udp(53, dns_query(1))),
        "arp": eth(0x0806) + b"\0\1\x08\0\6\4\0\1" + b"\0" * 20,
        "truncated": ipv4(6, tcp(80, 0x02))[:40],
        "icmp": ipv4(1, b"\x08\0\0\0\0\1\0\1" + b"p" * 56, ttl=255, tos=255),
    }
    for i in range(20):
        proto = rnd.choice([1, 6, 17, 47])
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 120)))
        P["random%02d" % i] = ipv4(proto, body, ttl=rnd.randrange(256), tos=rnd.randrange(256), ihl=rnd.choice([5, 5, 6, 15]))
    return P


# ---------------------------------------------------------------- ELF: instructions per program
def elf_funcs(path):
    d = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3a)
    secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
    out = {}
    for s in secs:
        if s[1] != 2: continue  # SHT_SYMTAB
        strtab = secs[s[6]]
        for off in range(s[4], s[4] + s[5], 24):
            name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", d, off)
            if info & 0xf == 2 and size:
                nm = d[strtab[4] + name:d.index(b"\0", strtab[4] + name)].decode()
                out[nm] = size // 8
    return out


# ---------------------------------------------------------------- load, measure
def load(obj, tag):
    """bpftool -d prog loadall; returns (progs{name: {...}}, maps{name: {...}}, error)."""
    pdir, mdir = f"{PIN}/{tag}_p", f"{PIN}/{tag}_m"
    for d in (pdir, mdir):
        shutil.rmtree(d, ignore_errors=True)
    r = run(["bpftool", "-d", "prog", "loadall", obj, pdir, "pinmaps", mdir])
    log = r.stdout + r.stderr
    progs, maps = {}, {}
    cur = None
    for line in log.splitlines():
        m = re.match(r"libbpf: prog '([^']+)': -- BEGIN PROG LOAD LOG --", line)
        if m: cur = progs.setdefault(m.group(1), {}); continue
        if cur is None: continue
        m = re.match(r"stack depth ([0-9+]+)", line)
        if m: cur["stack"] = sum(int(x) for x in m.group(1).split("+"))
        m = re.match(r"processed (\d+) insns", line)
        if m: cur["processed"] = int(m.group(1))
        if line.startswith("-- END PROG LOAD LOG"): cur = None
    if r.returncode != 0:
        err = [l for l in log.splitlines() if "libbpf: " in l and ("failed" in l or "error" in l.lower() or "-E" in l)]
        tail = [l for l in log.splitlines() if l.strip()][-3:]
        return progs, maps, "; ".join((err or tail)[-3:])[:400]
    for name in os.listdir(pdir) if os.path.isdir(pdir) else []:
        j = json.loads(run(["bpftool", "-j", "prog", "show", "pinned", f"{pdir}/{name}"]).stdout)
        p = progs.setdefault(name, {})
        p.update(xlated=j.get("bytes_xlated"), jited=j.get("bytes_jited"), pin=f"{pdir}/{name}")
        if "verified_insns" in j: p["processed"] = j["verified_insns"]
    for name in os.listdir(mdir) if os.path.isdir(mdir) else []:
        j = json.loads(run(["bpftool", "-j", "map", "show", "pinned", f"{mdir}/{name}"]).stdout)
        maps[name] = dict(type=j["type"], key=j["bytes_key"], value=j["bytes_value"], max=j["max_entries"], pin=f"{mdir}/{name}")
    return progs, maps, None


def map_set(mp, key, val):
    m = mp
    k = list(struct.pack("<I", key)); v = list(struct.pack("<Q", val))[:m["value"]]
    run(["bpftool", "map", "update", "pinned", m["pin"], "key"] + [str(x) for x in k] + ["value"] + [str(x) for x in v])


def map_dump(mp):
    r = run(["bpftool", "-j", "map", "dump", "pinned", mp["pin"]])
    try:
        j = json.loads(r.stdout)
    except Exception:
        return None
    return sorted((tuple(e.get("key", [])), tuple(e.get("value", []))) for e in j)


def prog_run(pin, datafile, repeat=1):
    r = run(["bpftool", "-j", "prog", "run", "pinned", pin, "data_in", datafile, "repeat", str(repeat)])
    try:
        j = json.loads(r.stdout)
        return j["retval"], j["duration"], None
    except Exception:
        return None, None, (r.stderr or r.stdout).strip()[:200]


def gmean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main():
    os.makedirs(f"{OUT}/obj", exist_ok=True)
    os.makedirs(f"{OUT}/pkt", exist_ok=True)
    os.makedirs(PIN, exist_ok=True)
    pk = packets()
    for n, b in pk.items():
        # BPF_PROG_TEST_RUN strips the first 14 bytes of a socket filter's input (eth_type_trans);
        # a dummy header in front leaves the whole frame where AF_PACKET's filters see it.
        open(f"{OUT}/pkt/{n}.bin", "wb").write(b"\xee" * 14 + b)
        open(f"{OUT}/pkt/{n}.l2.bin", "wb").write(b)
    rows, twins, notes = [], [], []
    for name, lua, progs, kind, tpkt, setup in PROGRAMS:
        print(f"== {name}", file=sys.stderr)
        objs, errs = {}, {}
        lo, co = f"{OUT}/obj/{name}.ljbpf.o", f"{OUT}/obj/{name}.clang.o"
        r = run([LJBPF, "compile", os.path.join(ROOT, lua), "-o", lo])
        if r.returncode: errs["ljbpf"] = "compile: " + (r.stderr or r.stdout).strip()[:300]
        r = run(["clang"] + CFLAGS + ["-c", f"{BENCH}/c/{name}.c", "-o", co])
        if r.returncode: errs["clang"] = "compile: " + (r.stderr or r.stdout).strip()[:300]
        check = {}
        r = run([LJBPF, "check", os.path.join(ROOT, lua), "--json"])
        try:
            check = {e["name"]: e for e in json.loads(r.stdout)}
        except Exception:
            pass
        side = {}
        for tag, obj in (("ljbpf", lo), ("clang", co)):
            if tag in errs:
                side[tag] = ({}, {}, errs[tag], {}); continue
            p, m, e = load(obj, f"{name}_{tag}")
            side[tag] = (p, m, e, elf_funcs(obj))
        # map definitions must agree
        lm, cm = side["ljbpf"][1], side["clang"][1]
        for mn in sorted(set(lm) | set(cm)):
            a = {k: v for k, v in lm.get(mn, {}).items() if k != "pin"}
            b = {k: v for k, v in cm.get(mn, {}).items() if k != "pin"}
            if a != b and lm and cm:
                twins.append(f"{name}: map `{mn}` differs: ljbpf {a or 'missing'} vs clang {b or 'missing'}")
        if setup:
            for tag in side:
                if setup[0] in side[tag][1]: map_set(side[tag][1][setup[0]], setup[1], setup[2])
        for prog in progs:
            row = dict(program=f"{name}/{prog}", kind=kind)
            for tag in ("ljbpf", "clang"):
                p, m, e, funcs = side[tag]
                pr = p.get(prog, {})
                row[tag] = dict(insns=funcs.get(prog), processed=pr.get("processed"), stack=pr.get("stack"),
                                xlated=pr.get("xlated"), jited=pr.get("jited"), error=e, pin=pr.get("pin"))
            row["ljbpf"]["check_stack"] = check.get(prog, {}).get("stack_bytes")
            row["ljbpf"]["check_processed"] = check.get(prog, {}).get("processed")
            rows.append(row)
            lp, cp = row["ljbpf"]["pin"], row["clang"]["pin"]
            if kind not in RUNNABLE or not lp or not cp:
                continue
            ext = ".bin" if kind == "socket" else ".l2.bin"
            # agreement: same packets, same order, both sides
            dis, seen = [], set()
            for pn in pk:
                a, _, ea = prog_run(lp, f"{OUT}/pkt/{pn}{ext}")
                seen.add(a if ea is None else "error")
                b, _, eb = prog_run(cp, f"{OUT}/pkt/{pn}{ext}")
                if a != b or ea != eb:
                    dis.append(f"{pn}: ljbpf {a if ea is None else ea} vs clang {b if eb is None else eb}")
            row["agree"] = f"{len(pk) - len(dis)}/{len(pk)} ({len(seen)} distinct)"
            if dis:
                twins.append(f"{name}/{prog}: return values disagree on " + "; ".join(dis[:6]))
            for mn in sorted(set(lm) & set(cm)):
                da, db = map_dump(lm[mn]), map_dump(cm[mn])
                if name == "bits" and da is not None and db is not None:
                    # out[0] holds the tgid of the process that ran the test: it differs by design
                    da = [e for e in da if any(int(x, 16) for x in e[0])]
                    db = [e for e in db if any(int(x, 16) for x in e[0])]
                row.setdefault("maps_compared", []).append(f"{mn}: {len(da or [])} entries" + (" equal" if da == db else " DIFFER"))
                if da != db:
                    notes.append(f"{name}: map `{mn}` contents differ after the agreement runs "
                                 f"(ljbpf {len(da or [])} entries, clang {len(db or [])})"
                                )
            # timing: A/B alternation, the order flipped every round, each round on the next
            # of LOADS loads of each object (fresh JIT placements); medians
            tl, tc = [], []
            f = f"{OUT}/pkt/{tpkt}{ext}"
            lps, cps = [lp], [cp]
            for k in range(1, LOADS):
                for tag, obj, pins in (("ljbpf", lo, lps), ("clang", co, cps)):
                    p, m, e = load(obj, f"{name}_{tag}_t{k}")
                    if setup and setup[0] in m: map_set(m[setup[0]], setup[1], setup[2])
                    if p.get(prog, {}).get("pin"): pins.append(p[prog]["pin"])
            for pin in lps + cps: prog_run(pin, f, 1000)
            for i in range(ROUNDS):
                l, c = lps[i % len(lps)], cps[i % len(cps)]
                order = ((l, tl), (c, tc)) if i % 2 == 0 else ((c, tc), (l, tl))
                for pin, acc in order:
                    _, d, e = prog_run(pin, f, REPEAT)
                    if d is not None: acc.append(d)
            row["ljbpf"]["ns"] = statistics.median(tl) if tl else None
            row["clang"]["ns"] = statistics.median(tc) if tc else None
            row["ljbpf"]["ns_all"], row["clang"]["ns_all"] = tl, tc
            row["timing_packet"] = tpkt
            row["retval_timing"] = prog_run(lp, f)[0]
            # The same runs on both sides: the next program of the pair may share maps with this one.
            prog_run(cp, f)
        shutil.rmtree(f"{PIN}", ignore_errors=True); os.makedirs(PIN, exist_ok=True)
    for r in rows:
        for t in ("ljbpf", "clang"): r[t].pop("pin", None)
    json.dump(dict(rows=rows, twins=twins, notes=notes), open(f"{OUT}/results.json", "w"), indent=1)
    report(rows, twins, notes)


def fmt(v):
    return "–" if v is None else str(v)


def ratio(a, b):
    return a / b if a is not None and b else None


def report(rows, twins, notes):
    kern = platform.release()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    clangv = run(["clang", "--version"]).stdout.splitlines()[0]
    bpftoolv = run(["bpftool", "version"]).stdout.splitlines()[0]
    L = []
    L.append("# ljbpf vs clang -O2: benchmark report\n")
    L.append(f"Generated by `bench/run` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Machine: {cpu}, {os.cpu_count()} CPUs (shared, noisy), Linux {kern}. "
             f"{clangv} (`{' '.join(CFLAGS[:5])}`); ljbpf default ISA (v3); {bpftoolv}. "
             f"Both objects loaded by `bpftool prog loadall`; ns/run is the median of {ROUNDS} rounds of "
             f"`bpftool prog run ... repeat {REPEAT}` with ljbpf and clang alternated (order flipped each round), "
             f"the rounds going round {LOADS} loads of each object (the JIT places each load at a random offset). "
             "See bench/README.md for what each column means.\n")
    L.append("| program | kind | insns ljbpf / clang | processed ljbpf / clang | stack ljbpf / clang | JIT bytes ljbpf / clang | ns/run ljbpf / clang | twins agree | error |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    keys = ["insns", "processed", "stack", "jited", "ns"]
    ratios = {k: [] for k in keys}
    tot = {k: [0, 0] for k in keys}
    for r in rows:
        a, b = r["ljbpf"], r["clang"]
        cells = []
        for k in keys:
            x, y = a.get(k), b.get(k)
            q = ratio(x, y)
            if k == "ns" and r["kind"] not in RUNNABLE:
                cells.append("n/a"); continue
            cells.append(f"{fmt(x)} / {fmt(y)}" + (f" ({q:.2f}×)" if q else ""))
            if x is not None and y is not None:
                tot[k][0] += x; tot[k][1] += y
                if q: ratios[k].append(q)
        err = "; ".join(f"{t}: {r[t]['error']}" for t in ("ljbpf", "clang") if r[t].get("error"))
        L.append(f"| {r['program']} | {r['kind']} | " + " | ".join(cells) + f" | {r.get('agree', 'n/a')} | {err} |")
    L.append("")
    L.append("| figure | ljbpf | clang | ljbpf / clang total | geometric mean of per-program ratios (range) |")
    L.append("|---|---|---|---|---|")
    names = dict(insns="instructions in the object", processed="verifier-processed instructions", stack="stack bytes",
                 jited="JIT-ed bytes", ns="ns/run (socket filters, median)")
    for k in keys:
        x, y = tot[k]
        g = gmean(ratios[k])
        rng = f" ({min(ratios[k]):.2f}× – {max(ratios[k]):.2f}×)" if ratios[k] else ""
        L.append(f"| {names[k]} | {x:.0f} | {y:.0f} | " + (f"**{x / y:.2f}×**" if y else "–") + " | " +
                 (f"**{g:.2f}×**{rng}" if g else "–") + " |")
    L.append("")
    L.append("Geometric means skip programs where either side is 0 (a stack of 0 bytes). ns/run of the socket "
             "filters other than `csum` is dominated by the test-run harness (skb set-up), not by the program.\n")
    cs = next((r for r in rows if r["program"] == "csum/csum"), None)
    if cs and cs["ljbpf"].get("ns") and cs["clang"].get("ns"):
        L.append(f"Compute-heavy filter `csum` (64-byte loop over the UDP payload): ljbpf {cs['ljbpf']['ns']} ns/run, "
                 f"clang {cs['clang']['ns']} ns/run = **{cs['ljbpf']['ns'] / cs['clang']['ns']:.2f}×** "
                 f"(all rounds: ljbpf {cs['ljbpf']['ns_all']}, clang {cs['clang']['ns_all']}).\n")
    L.append("## Twin checks\n")
    L.append("Every socket-filter pair was run on the same "
             f"{len(packets())} packets (bench/out/pkt; DNS, TCP SYN/SYN-ACK, HTTP, IPv6, ARP, IP options, truncated, "
             "20 random IPv4) in the same order, and the return values compared; the map definitions (type, key and "
             "value size, max entries) of both objects are compared too. Tracepoint pairs are only compared by map "
             "definitions (BPF_PROG_TEST_RUN does not run tracepoints).\n")
    L.append("\n".join(f"- {t}" for t in twins) if twins else "- No disagreement: every pair returned the same value on every packet, and every map definition matches.")
    L.append("")
    L.append("Per pair: " + "; ".join(f"{r['program']} returns {r.get('retval_timing')} on the timed packet `{r.get('timing_packet')}`"
                                     + (f", maps {', '.join(r['maps_compared'])}" if r.get('maps_compared') else "") for r in rows if r.get("agree")) + ".\n")
    if notes:
        L.append("Map contents after the agreement runs:\n")
        L.append("\n".join(f"- {n}" for n in notes))
        L.append("")
    cross = [r for r in rows if r["ljbpf"].get("check_stack") is not None and
             (r["ljbpf"]["check_stack"] != r["ljbpf"].get("stack") or r["ljbpf"]["check_processed"] != r["ljbpf"].get("processed"))]
    if cross:
        L.append("`ljbpf check` vs bpftool's verifier log for ljbpf's objects (stack, processed): " +
                 ", ".join(f"{r['program']} check {r['ljbpf']['check_stack']}/{r['ljbpf']['check_processed']} vs log {r['ljbpf']['stack']}/{r['ljbpf']['processed']}" for r in cross) + "\n")
    open(f"{BENCH}/REPORT.md", "w").write("\n".join(L))
    print("\n".join(L))


if __name__ == "__main__":
    main()
