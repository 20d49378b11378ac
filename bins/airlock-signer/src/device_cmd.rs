//! `airlock-signer device-request` and `approve --device-signature`: a member whose Ethereum key
//! is on a QR signer (EIP-4527, e.g. Keystone). The signer reviews the proposal as for any
//! approval, writes the `ur:eth-sign-request` the device scans (built from its own review, see
//! `airlock_chain_ethereum::eip4527`), and takes back the device's `ur:eth-signature`, which must
//! recover, over the digest this signer computed, to the key the vault lists for it.
//!
//! This command must never accept a device signature for data other than its own review's.

use std::path::Path;

use airlock_chain_ethereum::eip4527::{DeviceSignature, SIGNATURE_TYPE};
use airlock_cli_support::{CliError, CliResult, now, print_json};
use serde_json::json;

use crate::{home, read_bundle, signer_err};

/// Largest answer file read (an `eth-signature` UR is about 200 characters).
const MAX_ANSWER: u64 = 64 * 1024;

/// Reviews `bundle` and writes the device's requests: UR frames, one per line, in `out` (or, when
/// the payload needs several signatures, in `out` numbered `-1`, `-2`…).
pub(crate) fn request(
    dir: &Path,
    json: bool,
    bundle: &Path,
    out: &Path,
    density: &str,
) -> CliResult {
    let h = home(dir)?;
    let review = h
        .review(&read_bundle(bundle)?, now()?)
        .map_err(signer_err)?;
    if !json {
        print!("{}", review.text);
    }
    if !review.can_approve() {
        return Err(CliError::new(format!(
            "approval refused: {}",
            review.problems.join("; ")
        )));
    }
    let density = airlock_qr::Density::parse(density).ok_or_else(|| {
        CliError::new(format!(
            "--density {density:?}: use low, medium, high or max"
        ))
    })?;
    let requests = h.device_requests(&review).map_err(signer_err)?;
    let mut listed = Vec::new();
    for (i, (request, digest)) in requests.iter().enumerate() {
        let frames = airlock_qr::encode(
            &request.to_cbor(),
            airlock_qr::Format::Ur,
            airlock_qr::Content::EthSignRequest,
            density,
        )?;
        // One file per request (a device scans one message at a time): OUT, or OUT-1, OUT-2…
        let file = if requests.len() == 1 {
            out.to_path_buf()
        } else {
            numbered(out, i + 1)
        };
        airlock_transport::write_atomic(&file, (frames.texts.join("\n") + "\n").as_bytes())?;
        listed.push(json!({
            "request_id": hex::encode(request.request_id),
            "data_type": request.data_type as u8,
            "digest": digest.to_string(),
            "frames": frames.texts.len(),
            "frames_needed": frames.needed,
            "out": file,
        }));
        if !json {
            println!(
                "request {} of {}: the device must show digest {digest} for {} at {} -> {}",
                i + 1,
                requests.len(),
                request.address,
                request.path.text(),
                file.display()
            );
        }
    }
    if json {
        print_json(&json!({
            "proposal": review.proposal_id.to_hex(), "requests": listed,
            "review": review.to_json(),
        }));
    } else {
        println!(
            "Show each request on the device (`airlock-signer qr show FILE`), put its answers (ur:eth-signature, one per line) in one file, and approve with --device-signature FILE"
        );
    }
    Ok(())
}

/// `out` with `-N` before its extension: `request.txt` → `request-2.txt`.
fn numbered(out: &Path, n: usize) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    out.with_file_name(name)
}

/// Reads the device's answers: one `ur:eth-signature` per line (each a single-part UR, as
/// devices show them; multi-part parts of one answer are reassembled).
pub(crate) fn read_signatures(path: &Path) -> CliResult<Vec<DeviceSignature>> {
    let bytes = airlock_transport::read_bounded(path, MAX_ANSWER)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::new(format!("{}: not text", path.display())))?;
    let in_file = |e: &dyn std::fmt::Display| CliError::new(format!("{}: {e}", path.display()));
    let mut answers = Vec::new();
    let mut multipart = airlock_qr::Decoder::new();
    let mut has_parts = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix(&format!("ur:{SIGNATURE_TYPE}/")) else {
            return Err(in_file(&format!(
                "expected ur:{SIGNATURE_TYPE}/… lines, found {:?}",
                line.chars().take(24).collect::<String>()
            )));
        };
        if rest.contains('/') {
            multipart.receive(line).map_err(|e| in_file(&e))?;
            has_parts = true;
            continue;
        }
        let mut one = airlock_qr::Decoder::new();
        one.receive(line).map_err(|e| in_file(&e))?;
        let decoded = one.finish().map_err(|e| in_file(&e))?;
        answers.push(DeviceSignature::from_cbor(&decoded.bytes).map_err(|e| in_file(&e))?);
    }
    if has_parts {
        let decoded = multipart.finish().map_err(|e| in_file(&e))?;
        answers.push(DeviceSignature::from_cbor(&decoded.bytes).map_err(|e| in_file(&e))?);
    }
    if answers.is_empty() {
        return Err(in_file(&"no device signature in the file"));
    }
    Ok(answers)
}
