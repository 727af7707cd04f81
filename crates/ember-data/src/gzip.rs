//! Transparent gzip decompression, detected by magic number.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most bytes a gzip file may inflate to (EMNIST's largest split is 0.55 GB).
const MAX_INFLATED: u64 = 1 << 30;

/// Returns `true` if `bytes` starts with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Decompresses `bytes` if they start with the gzip magic number, otherwise
/// returns them unchanged.
///
/// The file name is never consulted: a `.gz` file holding raw data and a raw
/// name holding gzip data both work. `origin` names the data in errors.
pub(crate) fn maybe_gunzip<'a>(bytes: &'a [u8], origin: &str) -> Result<Cow<'a, [u8]>, DataError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            origin: origin.to_owned(),
            source,
        })?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(DataError::Gzip {
            origin: origin.to_owned(),
            source: std::io::Error::other(format!(
                "it inflates to more than {MAX_INFLATED} bytes, more than any data set Ember \
                 reads (a damaged file or a decompression bomb)"
            )),
        });
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn plain_bytes_pass_through() {
        let out = maybe_gunzip(b"hello", "test").unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(&*out, b"hello");
    }

    #[test]
    fn gzip_bytes_are_decompressed() {
        let data = gz(b"hello world");
        let out = maybe_gunzip(&data, "test").unwrap();
        assert_eq!(&*out, b"hello world");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gz(&[7u8; 1000]);
        let err = maybe_gunzip(&data[..data.len() / 2], "half.gz").unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        assert!(err.to_string().contains("half.gz"), "{err}");
    }
}
