//! Running a compiled program in the kernel (`BPF_PROG_TEST_RUN`) with the maps set up.

use ljbpf_runtime::aya::maps::Array;

use super::*;

/// Runs program `index` (of kind `hook`) of a loaded probe file made by [`probe_file`] on
/// `input`.
pub fn run_kernel(
    probe: &mut ljbpf_runtime::Probe,
    index: usize,
    input: &Input,
    hook: Hook,
) -> Result<Observed, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let base = index * OUT_SLOTS;
    {
        let mut out: Array<_, u64> =
            Array::try_from(probe.map_mut("out").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for slot in 0..OUT_SLOTS {
            out.set((base + slot) as u32, SENTINEL, 0)
                .map_err(|x| e(&x))?;
        }
    }
    {
        let mut m: Array<_, u64> =
            Array::try_from(probe.map_mut("m").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for (n, v) in input.m.iter().enumerate() {
            m.set(n as u32, *v, 0).map_err(|x| e(&x))?;
        }
    }
    {
        let mut w: Array<_, u32> =
            Array::try_from(probe.map_mut("w").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for (n, v) in input.w.iter().enumerate() {
            w.set(n as u32, *v, 0).map_err(|x| e(&x))?;
        }
    }
    {
        let mut g: Array<_, [u8; IX_VAL_SIZE]> =
            Array::try_from(probe.map_mut("g").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        g.set(0, [0u8; IX_VAL_SIZE], 0).map_err(|x| e(&x))?;
    }
    let res = probe
        .test_run(&format!("p{index}"), &hook.packet(input), 1)
        .map_err(|x| e(&x))?;
    let mut obs = Observed {
        ret: res.retval,
        out: Vec::with_capacity(OUT_SLOTS),
        m: [0; MAP_LEN],
        w: [0; MAP_LEN],
    };
    {
        let out: Array<_, u64> =
            Array::try_from(probe.map("out").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for slot in 0..OUT_SLOTS {
            let v = out.get(&((base + slot) as u32), 0).map_err(|x| e(&x))?;
            obs.out.push((v != SENTINEL).then_some(v));
        }
    }
    {
        let m: Array<_, u64> =
            Array::try_from(probe.map("m").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for n in 0..MAP_LEN {
            obs.m[n] = m.get(&(n as u32), 0).map_err(|x| e(&x))?;
        }
    }
    {
        let w: Array<_, u32> =
            Array::try_from(probe.map("w").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for n in 0..MAP_LEN {
            obs.w[n] = w.get(&(n as u32), 0).map_err(|x| e(&x))?;
        }
    }
    Ok(obs)
}
