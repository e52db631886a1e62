//! Per-CPU map values (`percpu_array`, `percpu_hash`, `lru_percpu_hash`): one value per
//! possible CPU, summed here.
//!
//! Read them with aya's [`PerCpuArray`](aya::maps::PerCpuArray) or
//! [`PerCpuHashMap`](aya::maps::PerCpuHashMap), whose `get` returns
//! [`PerCpuValues`]; index it (it derefs to a slice) for the value of one CPU.

use aya::maps::PerCpuValues;
use aya::Pod;

/// Sum over all CPUs of an unsigned integer per-CPU value (`u8` to `u64`), widened to `u128`
/// so it cannot overflow.
pub fn sum_per_cpu<V: Pod + Into<u128>>(values: &PerCpuValues<V>) -> u128 {
    values.iter().map(|&v| v.into()).sum()
}

/// Sum over all CPUs of a signed integer per-CPU value (`i8` to `i64`), widened to `i128`.
pub fn sum_per_cpu_signed<V: Pod + Into<i128>>(values: &PerCpuValues<V>) -> i128 {
    values.iter().map(|&v| v.into()).sum()
}
