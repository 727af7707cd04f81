//! Checksums inside burnpack files, so that a flipped bit in a checkpoint or a model is found
//! when it is read instead of loading as a slightly different model.
//!
//! burnpack has no checksum of its own, but it carries free-form string metadata. A sealed
//! file holds, in that metadata:
//! - `ember.sha256:<tensor>`: the SHA-256 of each tensor's stored bytes;
//! - `ember.sha256`: the SHA-256 of a canonical description of everything else (each tensor's
//!   name, dtype, shape and parameter id, every scalar, every other metadata entry), so that a
//!   flip in the header region (a shape, a scalar step counter, a name) is found as well.
//!
//! [`seal_burnpack`] rewrites a file burn wrote with these entries added (burn's own readers
//! ignore them), and [`verify_burnpack`] checks them. A file with no Ember entries (a plain
//! burn record a user brings) passes unless the caller requires a seal; one with some of them
//! but not the digest has been damaged and is refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::store::burn_pack::{Reader, Tensor, Writer};
use sha2::{Digest, Sha256};

/// The metadata key of the description digest.
const DIGEST_KEY: &str = "ember.sha256";
/// The prefix of the metadata key of each tensor's digest.
const TENSOR_KEY: &str = "ember.sha256:";

/// A burnpack file that is not what was written.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    /// The file cannot be read as burnpack at all.
    #[error("{}: cannot be read: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// A tensor's bytes do not match their checksum.
    #[error("{}: tensor `{tensor}` is damaged (its SHA-256 does not match the one stored when it was written)", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
    },
    /// The header region (names, shapes, types, scalars, metadata) does not match its
    /// checksum, or the checksums themselves are damaged.
    #[error("{}: its header is damaged ({detail})", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
    /// The caller requires a checksum and the file has none.
    #[error("{}: carries no checksum (not written by this version of Ember); it cannot be trusted as a run's file", path.display())]
    Unsealed {
        /// The file.
        path: PathBuf,
    },
    /// The sealed file cannot be written.
    #[error("{}: cannot be sealed: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Rewrites the burnpack file `path` with its checksums added (atomically: the file is
/// replaced whole). Sealing a sealed file renews its checksums.
///
/// # Errors
/// [`ChecksumError::Unreadable`] or [`ChecksumError::Write`].
pub fn seal_burnpack(path: &Path) -> Result<(), ChecksumError> {
    let (metadata, scalars, tensors) = read(path)?;
    let mut metadata: BTreeMap<String, String> = metadata
        .into_iter()
        .filter(|(key, _)| !key.starts_with(DIGEST_KEY))
        .collect();
    for tensor in &tensors {
        metadata.insert(
            format!("{TENSOR_KEY}{}", tensor.name),
            tensor_digest(path, tensor)?,
        );
    }
    let digest = description_digest(&metadata, &scalars, &tensors);
    let mut writer = Writer::new(tensors)
        .auto_extension(false)
        .overwrite(true)
        .with_metadata(DIGEST_KEY, &digest);
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    for (key, value) in scalars {
        writer = writer.with_scalar(&key, value);
    }
    writer
        .write_to_file(path)
        .map_err(|e| ChecksumError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Checks the checksums of the burnpack file `path`: `Ok(true)` when they all match,
/// `Ok(false)` when the file has none and `require` is false.
///
/// # Errors
/// [`ChecksumError::Tensor`] naming the first damaged tensor, [`ChecksumError::Header`] for a
/// damaged header region, [`ChecksumError::Unsealed`] when `require` is set and there is no
/// checksum, [`ChecksumError::Unreadable`] when burnpack cannot read the file.
pub fn verify_burnpack(path: &Path, require: bool) -> Result<bool, ChecksumError> {
    let (metadata, scalars, tensors) = read(path)?;
    let header = |detail: String| ChecksumError::Header {
        path: path.to_path_buf(),
        detail,
    };
    let Some(stored) = metadata.get(DIGEST_KEY) else {
        if metadata.keys().any(|key| key.starts_with("ember.")) {
            return Err(header("Ember's checksum entries are incomplete".into()));
        }
        if require {
            return Err(ChecksumError::Unsealed {
                path: path.to_path_buf(),
            });
        }
        return Ok(false);
    };
    let rest: BTreeMap<String, String> = metadata
        .iter()
        .filter(|(key, _)| key.as_str() != DIGEST_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Each tensor first: a damaged tensor is named, whatever else is damaged.
    for tensor in &tensors {
        let Some(expected) = rest.get(&format!("{TENSOR_KEY}{}", tensor.name)) else {
            return Err(header(format!("tensor `{}` has no checksum", tensor.name)));
        };
        if &tensor_digest(path, tensor)? != expected {
            return Err(ChecksumError::Tensor {
                path: path.to_path_buf(),
                tensor: tensor.name.clone(),
            });
        }
    }
    if &description_digest(&rest, &scalars, &tensors) != stored {
        return Err(header(
            "the names, shapes, types or metadata differ from those written".into(),
        ));
    }
    Ok(true)
}

type Parts = (
    BTreeMap<String, String>,
    BTreeMap<String, burn::store::burn_pack::Scalar>,
    Vec<Tensor>,
);

fn read(path: &Path) -> Result<Parts, ChecksumError> {
    let unreadable = |message: String| ChecksumError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let reader = Reader::from_file(path).map_err(|e| unreadable(e.to_string()))?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let tensors = reader
        .into_tensors()
        .map_err(|e| unreadable(e.to_string()))?;
    Ok((metadata, scalars, tensors))
}

/// The SHA-256, in hex, of a tensor's stored bytes.
fn tensor_digest(path: &Path, tensor: &Tensor) -> Result<String, ChecksumError> {
    let bytes = tensor.to_bytes().map_err(|e| ChecksumError::Unreadable {
        path: path.to_path_buf(),
        message: format!("tensor `{}`: {e}", tensor.name),
    })?;
    Ok(to_hex(&Sha256::digest(&bytes[..])))
}

/// The SHA-256, in hex, of every tensor's description, every scalar and every metadata entry
/// (the tensors' own digests among them), in a fixed order.
fn description_digest(
    metadata: &BTreeMap<String, String>,
    scalars: &BTreeMap<String, burn::store::burn_pack::Scalar>,
    tensors: &[Tensor],
) -> String {
    let mut text = String::new();
    let mut sorted: Vec<&Tensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for t in sorted {
        let _ = writeln!(
            text,
            "tensor {:?} {:?} {:?} {:?}",
            t.name,
            t.dtype,
            t.shape.as_slice(),
            t.param_id
        );
    }
    for (key, value) in scalars {
        let _ = writeln!(text, "scalar {key:?} {value:?}");
    }
    for (key, value) in metadata {
        let _ = writeln!(text, "metadata {key:?} {value:?}");
    }
    to_hex(&Sha256::digest(text.as_bytes()))
}

/// Lower-case hex of `bytes` (a digest), as `sha256sum` prints it.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::store::burn_pack::{Bytes, DType};

    fn write_plain(path: &Path) {
        let tensor = |name: &str, values: &[f32]| {
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Tensor::new(
                name.into(),
                DType::F32,
                vec![values.len()],
                Some(7),
                Bytes::from_bytes_vec(raw),
            )
        };
        Writer::new(vec![
            tensor("a.weight", &[1.0, 2.0, 3.0, 4.0]),
            tensor("b.weight", &[0.0, 0.0, 5.0, 6.0]),
        ])
        .auto_extension(false)
        .with_metadata("producer", "test")
        .write_to_file(path)
        .unwrap();
    }

    #[test]
    fn a_sealed_file_verifies_and_a_plain_one_only_when_not_required() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bpk");
        write_plain(&path);
        assert!(!verify_burnpack(&path, false).unwrap());
        assert!(matches!(
            verify_burnpack(&path, true),
            Err(ChecksumError::Unsealed { .. })
        ));
        seal_burnpack(&path).unwrap();
        assert!(verify_burnpack(&path, true).unwrap());
        // Sealing twice changes nothing that verification sees.
        seal_burnpack(&path).unwrap();
        assert!(verify_burnpack(&path, true).unwrap());
    }

    #[test]
    fn every_flipped_byte_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bpk");
        write_plain(&path);
        seal_burnpack(&path).unwrap();
        let clean = std::fs::read(&path).unwrap();
        let content = |path: &Path| {
            let (metadata, scalars, tensors) = read(path).unwrap();
            let tensors: Vec<_> = tensors
                .iter()
                .map(|t| {
                    let bytes = t.to_bytes().unwrap().to_vec();
                    (
                        t.name.clone(),
                        format!("{:?} {:?} {:?}", t.dtype, t.shape, t.param_id),
                        bytes,
                    )
                })
                .collect();
            (metadata, format!("{scalars:?}"), tensors)
        };
        let original = content(&path);
        // The padding between the metadata and the aligned data section is never read.
        let metadata_size = u32::from_le_bytes(clean[6..10].try_into().unwrap()) as usize;
        // Each tensor starts on a 256-byte boundary; the two hold 16 bytes each.
        let data = (10 + metadata_size).div_ceil(256) * 256;
        assert_eq!(clean.len(), data + 256 + 16);
        let mut missed = Vec::new();
        let used = (0..10 + metadata_size)
            .chain(data..data + 16)
            .chain(data + 256..data + 272);
        for index in used {
            let mut damaged = clean.clone();
            damaged[index] ^= 0x01;
            std::fs::write(&path, &damaged).unwrap();
            // A flip passes only where the reader sees exactly what was written (the format
            // version's low bit, a CBOR array length the decoder reads past): nothing that
            // is loaded changed.
            if verify_burnpack(&path, true).is_ok() && content(&path) != original {
                missed.push(index);
            }
        }
        assert!(
            missed.is_empty(),
            "flips that change the model not found at bytes {missed:?}"
        );
    }

    #[test]
    fn a_damaged_tensor_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bpk");
        write_plain(&path);
        seal_burnpack(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // b.weight is written last: its last value's bytes end the file.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_burnpack(&path, true).unwrap_err();
        assert!(
            matches!(&err, ChecksumError::Tensor { tensor, .. } if tensor == "b.weight"),
            "{err}"
        );
        assert!(err.to_string().contains("m.bpk"), "{err}");
    }
}
