//! Text in `char[N]` fields: the bytes up to the first NUL, as C reads them.

use std::borrow::Cow;

/// The C string in a `char[N]` field (a `[u8; N]` in the generated structs): the bytes before
/// the first NUL, or all of them when there is none (a kernel `comm` of exactly 16 bytes has
/// no room for one).
///
/// ```
/// use ljbpf_runtime::CStrBytes as _;
/// let comm: [u8; 16] = *b"bash\0\0\0\0\0\0\0\0\0\0\0\0";
/// assert_eq!(comm.c_bytes(), b"bash");
/// assert_eq!(comm.c_str(), "bash");
/// ```
pub trait CStrBytes {
    /// The bytes before the first NUL.
    fn c_bytes(&self) -> &[u8];

    /// Those bytes as text; bytes that are not UTF-8 become U+FFFD.
    fn c_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.c_bytes())
    }
}

impl CStrBytes for [u8] {
    fn c_bytes(&self) -> &[u8] {
        let end = self.iter().position(|&b| b == 0).unwrap_or(self.len());
        &self[..end]
    }
}

impl<const N: usize> CStrBytes for [u8; N] {
    fn c_bytes(&self) -> &[u8] {
        self.as_slice().c_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::CStrBytes;

    #[test]
    fn stops_at_the_first_nul_or_the_end() {
        assert_eq!(b"ab\0cd".c_bytes(), b"ab");
        assert_eq!(b"abcd".c_bytes(), b"abcd");
        assert_eq!(b"\0abc".c_str(), "");
        assert_eq!([0xffu8, b'x', 0].c_str(), "\u{fffd}x");
        let empty: [u8; 0] = [];
        assert_eq!(empty.c_str(), "");
    }
}
