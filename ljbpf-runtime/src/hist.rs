//! Histograms printed like bcc's (`table.py`: `print_log2_hist`, with `*` bars 40 wide).

/// bcc's `stars_max`: the width of a bar.
const BAR_WIDTH: u64 = 40;

/// A bar of `val` scaled so that `max` fills `width` characters (bcc's `_stars`:
/// `floor(width * val / max)` stars).
pub fn bar(val: u64, max: u64, width: u64) -> String {
    if max == 0 {
        return String::new();
    }
    let n = (u128::from(width) * u128::from(val) / u128::from(max)).min(u128::from(width));
    "*".repeat(n as usize)
}

/// Formats a log2 histogram like bcc's `print_log2_hist(val_type)`.
///
/// `slots[k]` counts values `v` with `floor(log2(v)) == k`, where `v = 0` goes to slot 0
/// (what the probes' `math.log2` computes). bcc's `bpf_log2l` puts the same values one slot
/// higher (`0 -> 1` is its index 1), so row `k` here is bcc's row `k + 1`: `0 -> 1`, `2 -> 3`,
/// `4 -> 7`, ... Rows stop at the highest non-empty slot; nothing is printed if all are empty.
pub fn log2_hist(slots: &[u64], val_type: &str) -> String {
    let Some(last) = slots.iter().rposition(|&n| n > 0) else {
        return String::new();
    };
    let max = slots.iter().copied().max().unwrap_or(0);
    // bcc switches to wide columns (and half-width bars) past index 32.
    let wide = last + 1 > 32;
    let width = if wide { BAR_WIDTH / 2 } else { BAR_WIDTH };
    let mut out = if wide {
        format!("               {val_type:<29} : count     distribution\n")
    } else {
        format!("     {val_type:<19} : count     distribution\n")
    };
    for (k, &n) in slots.iter().enumerate().take(last + 1) {
        let (low, high) = slot_range(k);
        let stars = bar(n, max, width);
        let w = width as usize;
        if wide {
            out.push_str(&format!("{low:>20} -> {high:<20} : {n:<8} |{stars:<w$}|\n"));
        } else {
            out.push_str(&format!("{low:>10} -> {high:<10} : {n:<8} |{stars:<w$}|\n"));
        }
    }
    out
}

/// The values slot `k` of [`log2_hist`] holds: `0 -> 1` for slot 0, `2^k -> 2^(k+1) - 1`.
pub fn slot_range(k: usize) -> (u64, u64) {
    if k == 0 {
        (0, 1)
    } else {
        let low = 1u64 << k;
        (low, low.wrapping_shl(1).wrapping_sub(1))
    }
}

/// Formats named counts as bars, most frequent first (equal counts keep their given order):
///
/// ```text
///      QTYPE        : count     distribution
///      A            : 12       |****************************************|
/// ```
pub fn named_bars(rows: &[(String, u64)], label: &str) -> String {
    let mut rows: Vec<&(String, u64)> = rows.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    let max = rows.first().map_or(0, |r| r.1);
    let w = BAR_WIDTH as usize;
    let mut out = format!("     {label:<12} : count     distribution\n");
    for (name, n) in rows {
        let stars = bar(*n, max, BAR_WIDTH);
        out.push_str(&format!("     {name:<12} : {n:<8} |{stars:<w$}|\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_like_bcc() {
        assert_eq!(bar(10, 10, 40).len(), 40);
        assert_eq!(bar(5, 10, 40).len(), 20);
        assert_eq!(bar(1, 100, 40).len(), 0);
        assert_eq!(bar(0, 0, 40), "");
    }

    #[test]
    fn log2_rows_match_bcc() {
        let text = log2_hist(&[3, 0, 1], "usecs");
        let expected = "     usecs               : count     distribution\n\
                        \x20        0 -> 1          : 3        |****************************************|\n\
                        \x20        2 -> 3          : 0        |                                        |\n\
                        \x20        4 -> 7          : 1        |*************                           |\n";
        assert_eq!(text, expected);
        assert_eq!(log2_hist(&[0, 0], "usecs"), "");
        assert_eq!(slot_range(10), (1024, 2047));
        assert_eq!(slot_range(63), (1 << 63, u64::MAX));
    }
}
