//! What crosses the air gap: today files (on removable media or a shared folder), later QR codes.
//!
//! This crate is compiled into the offline signer, so it must never depend on anything that talks
//! to a network. It knows nothing about what an artifact means; it only moves bytes safely:
//!
//! * **Never leave a partial file.** Every write goes to a temporary file in the target's
//!   directory, is flushed to disk, and is then renamed over the target ([`write_atomic`]). A
//!   reader on the other side of the gap sees either the old file, or the complete new one, never
//!   half of it. On error the temporary file is removed.
//! * **Never read unbounded input.** Files handed over from the other side may be hostile or
//!   simply wrong (a disk image picked by mistake, a FIFO, `/dev/zero`). [`read_bounded`] refuses
//!   files larger than a caller-chosen cap before reading them, and stops reading once the cap is
//!   passed.
//! * **Armor for text channels.** [`armor`] / [`dearmor`] wrap binary artifacts in a
//!   `-----BEGIN AIRLOCK <LABEL>-----` block of base64, for channels that carry text (copy and
//!   paste, QR codes in text mode, printouts).
//!
//! Errors name the path (or the armor problem) and never contain file contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub mod dir;
pub mod failpoint;
pub mod httpsig;
pub mod lock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why a transport operation failed. Messages name the path and the problem; they never include
/// the bytes being read or written.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// An operating-system I/O error while doing `op` on `path`.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "create temporary file in".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file's size (from its metadata) is over the cap; nothing was read.
    #[error("{} is {size} bytes, over the limit of {max} bytes; refusing to read it", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size according to its metadata.
        size: u64,
        /// The cap the caller asked for.
        max: u64,
    },
    /// The file yielded more than the cap while being read (it grew, or it is a pipe or device
    /// whose metadata does not tell its size). Reading stopped at `max + 1` bytes.
    #[error("{} produced more than the limit of {max} bytes while being read; refusing it", path.display())]
    GrewPastLimit {
        /// The file.
        path: PathBuf,
        /// The cap the caller asked for.
        max: u64,
    },
    /// The path is a directory, not a file.
    #[error("{} is a directory, not a file", path.display())]
    IsADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The path has no file-name component (e.g. it is empty, `/` or ends in `..`).
    #[error("{} does not name a file", path.display())]
    NoFileName {
        /// The path.
        path: PathBuf,
    },
    /// [`write_atomic_private_new`] found something already at the path.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// Armored text could not be parsed.
    #[error("armored text: {0}")]
    Armor(#[from] ArmorError),
}

/// What is wrong with a piece of armored text (see [`dearmor`]). Each problem has its own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmorError {
    /// No `-----BEGIN AIRLOCK <LABEL>-----` line at all.
    #[error("no \"-----BEGIN AIRLOCK <LABEL>-----\" line found")]
    MissingBegin,
    /// A BEGIN line but no matching END line.
    #[error("no \"-----END AIRLOCK <LABEL>-----\" line after the BEGIN line")]
    MissingEnd,
    /// Non-whitespace text before the BEGIN line.
    #[error("unexpected text before the BEGIN line")]
    TextBeforeBlock,
    /// Non-whitespace text after the END line (including a second block).
    #[error("unexpected text after the END line")]
    TextAfterBlock,
    /// The label of a BEGIN or END line is not uppercase ASCII letters, digits, '-' and single
    /// inner spaces.
    #[error("invalid label in {line} line (allowed: A-Z, 0-9, '-', inner spaces)")]
    BadLabel {
        /// "BEGIN" or "END".
        line: &'static str,
    },
    /// BEGIN and END labels differ.
    #[error("BEGIN label {begin:?} does not match END label {end:?}")]
    LabelMismatch {
        /// Label of the BEGIN line.
        begin: String,
        /// Label of the END line.
        end: String,
    },
    /// The body is not valid standard padded base64.
    #[error("body is not valid base64 ({0})")]
    BadBase64(String),
    /// The block has no body.
    #[error("block has an empty body")]
    EmptyBody,
}

/// Maximum length of an armor label, so a label always fits on a line with its markers.
pub const MAX_LABEL_LEN: usize = 40;

const BEGIN_PREFIX: &str = "-----BEGIN AIRLOCK ";
const END_PREFIX: &str = "-----END AIRLOCK ";
const DASHES: &str = "-----";
const LINE_WIDTH: usize = 64;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TransportError {
    move |source| TransportError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the temporary file on drop unless disarmed.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> Result<&Path, TransportError> {
    if path.file_name().is_none() {
        return Err(TransportError::NoFileName {
            path: path.to_path_buf(),
        });
    }
    Ok(match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    })
}

/// Creates a fresh temporary file in `dir`, writes `bytes` and fsyncs it. The returned guard
/// deletes the file unless disarmed.
fn write_temp(dir: &Path, bytes: &[u8], private: bool) -> Result<TempGuard, TransportError> {
    let pid = std::process::id();
    let mut attempt = 0u32;
    let (tmp_path, mut file) = loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let candidate = dir.join(format!(".airlock-tmp-{pid}-{n}-{nanos}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        match options.open(&candidate) {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(io_err("create temporary file in", dir)(e)),
        }
    };
    let guard = TempGuard {
        path: tmp_path,
        armed: true,
    };
    #[cfg(unix)]
    if private {
        // The umask can only have removed bits from 0o600; make the mode exact anyway.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err("set permissions on", &guard.path))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(bytes)
        .map_err(io_err("write temporary file", &guard.path))?;
    failpoint::hit("atomic-write.written", &guard.path.display());
    file.sync_all()
        .map_err(io_err("fsync temporary file", &guard.path))?;
    failpoint::hit("atomic-write.synced", &guard.path.display());
    Ok(guard)
}

/// Makes the rename durable by fsyncing the directory (unix; a no-op elsewhere).
fn sync_dir(dir: &Path) -> Result<(), TransportError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn write_atomic_impl(path: &Path, bytes: &[u8], private: bool) -> Result<(), TransportError> {
    let dir = parent_dir(path)?;
    let mut guard = write_temp(dir, bytes, private)?;
    fs::rename(&guard.path, path).map_err(io_err("rename temporary file over", path))?;
    guard.armed = false;
    failpoint::hit("atomic-write.renamed", &path.display());
    sync_dir(dir)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// fsynced, renamed over `path`, and the directory is fsynced.
///
/// On any error before the rename, nothing is left at `path` that was not there before and the
/// temporary file is removed. (If only the final directory fsync fails, the new file is already in
/// place but its durability across a power cut is not guaranteed; the error says so.)
///
/// If `path` is a symlink, the link itself is replaced, not its target. Permissions are the
/// process default (umask applies); an existing file's permissions are not carried over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TransportError> {
    write_atomic_impl(path, bytes, false)
}

/// Like [`write_atomic`], but the file is created with mode `0o600` on unix (for key files), so
/// it is never readable by others, not even briefly.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<(), TransportError> {
    write_atomic_impl(path, bytes, true)
}

/// Like [`write_atomic_private`], but refuses to replace anything already at `path`
/// ([`TransportError::AlreadyExists`]).
///
/// The no-overwrite check is atomic: the finished temporary file is hard-linked to `path`, which
/// the operating system refuses if `path` exists. On filesystems without hard links (e.g. FAT
/// media) it falls back to checking for `path` and then renaming, which leaves a small race window
/// against a concurrent writer.
pub fn write_atomic_private_new(path: &Path, bytes: &[u8]) -> Result<(), TransportError> {
    let dir = parent_dir(path)?;
    let exists = || TransportError::AlreadyExists {
        path: path.to_path_buf(),
    };
    // Cheap early exit, so no temporary file is written for an obvious conflict.
    if fs::symlink_metadata(path).is_ok() {
        return Err(exists());
    }
    let mut guard = write_temp(dir, bytes, true)?;
    match fs::hard_link(&guard.path, path) {
        // The guard now removes the temporary name; `path` keeps the data.
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(_) => {
            // No hard links here: check, then rename.
            if fs::symlink_metadata(path).is_ok() {
                return Err(exists());
            }
            fs::rename(&guard.path, path).map_err(io_err("rename temporary file over", path))?;
            guard.armed = false;
        }
    }
    drop(guard);
    failpoint::hit("atomic-write.renamed", &path.display());
    sync_dir(dir)
}

/// Reads the whole file at `path`, refusing it if it is larger than `max_len` bytes.
///
/// The size is checked from the open file's metadata *before* anything is read, so an oversize
/// file costs nothing. Reading also stops as soon as more than `max_len` bytes have arrived, in
/// case the file grows meanwhile or is a pipe or device whose size the metadata does not tell.
/// Directories are refused.
///
/// For regular files the buffer is sized up front, so the contents are not copied around by
/// reallocation (which matters when callers wrap the result in zeroizing memory).
pub fn read_bounded(path: &Path, max_len: u64) -> Result<Vec<u8>, TransportError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let meta = file.metadata().map_err(io_err("read metadata of", path))?;
    if meta.is_dir() {
        return Err(TransportError::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    let size = meta.len();
    if size > max_len {
        return Err(TransportError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: max_len,
        });
    }
    // size <= max_len here; +1 leaves room to detect growth without reallocating.
    let capacity =
        usize::try_from(size.saturating_add(1)).map_err(|_| TransportError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: max_len,
        })?;
    let mut buf = Vec::with_capacity(capacity);
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io_err("read", path))?;
    if buf.len() as u64 > max_len {
        return Err(TransportError::GrewPastLimit {
            path: path.to_path_buf(),
            max: max_len,
        });
    }
    Ok(buf)
}

/// Whether `label` is a valid armor label: 1..=[`MAX_LABEL_LEN`] characters of `A-Z`, `0-9`, `-`
/// and space, not starting or ending with a space and without two spaces in a row.
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b' ')
        && !label.starts_with(' ')
        && !label.ends_with(' ')
        && !label.contains("  ")
}

/// Wraps `bytes` in ASCII armor:
///
/// ```text
/// -----BEGIN AIRLOCK <LABEL>-----
/// <standard padded base64, 64 characters per line>
/// -----END AIRLOCK <LABEL>-----
/// ```
///
/// with a final newline. Artifacts are never empty: an empty `bytes` gives a block with an empty
/// body, which [`dearmor`] rejects.
///
/// # Panics
///
/// If `label` is not valid (see [`is_valid_label`]). Labels are constants chosen by the program,
/// so this is a programming error.
pub fn armor(label: &str, bytes: &[u8]) -> String {
    assert!(is_valid_label(label), "invalid armor label {label:?}");
    let body = BASE64.encode(bytes);
    let mut out =
        String::with_capacity(body.len() + body.len() / LINE_WIDTH + 2 * label.len() + 64);
    out.push_str(BEGIN_PREFIX);
    out.push_str(label);
    out.push_str(DASHES);
    out.push('\n');
    // base64 output is ASCII, so byte chunks are valid str boundaries.
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE_WIDTH));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    if body.is_empty() {
        out.push('\n');
    }
    out.push_str(END_PREFIX);
    out.push_str(label);
    out.push_str(DASHES);
    out.push('\n');
    out
}

/// Parses a BEGIN or END marker line; `Ok(None)` if the line is not such a marker at all.
fn marker_label<'a>(
    line: &'a str,
    prefix: &str,
    which: &'static str,
) -> Result<Option<&'a str>, ArmorError> {
    let Some(rest) = line.strip_prefix(prefix) else {
        return Ok(None);
    };
    let label = rest
        .strip_suffix(DASHES)
        .filter(|l| is_valid_label(l))
        .ok_or(ArmorError::BadLabel { line: which })?;
    Ok(Some(label))
}

/// Parses armored text produced by [`armor`], returning `(label, bytes)`.
///
/// Tolerated: ASCII whitespace (including blank lines) before and after the block, CRLF line
/// endings, ASCII whitespace at the ends of lines, and body lines of any width (text may be
/// re-wrapped in transit). Rejected, each with its own [`ArmorError`]: no BEGIN line, no END
/// line, text before or after the block, an invalid or mismatched label, an empty body, and a
/// body that is not standard padded base64.
pub fn dearmor(text: &str) -> Result<(String, Vec<u8>), TransportError> {
    // ASCII whitespace only: exactly what `is_armored` skips, so the readers that route a file by
    // `is_armored` never send text this function would accept down the binary path.
    let mut lines = text
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|l| !l.is_empty());

    let first = lines.next().ok_or(ArmorError::MissingBegin)?;
    let begin = match marker_label(first, BEGIN_PREFIX, "BEGIN")? {
        Some(label) => label,
        None => {
            // Distinguish "junk before a block" from "no block at all".
            for line in lines {
                if marker_label(line, BEGIN_PREFIX, "BEGIN")?.is_some() {
                    return Err(ArmorError::TextBeforeBlock.into());
                }
            }
            return Err(ArmorError::MissingBegin.into());
        }
    };

    let mut body = String::new();
    let mut end = None;
    for line in lines.by_ref() {
        if let Some(label) = marker_label(line, END_PREFIX, "END")? {
            end = Some(label);
            break;
        }
        body.push_str(line);
    }
    let end = end.ok_or(ArmorError::MissingEnd)?;
    if lines.next().is_some() {
        return Err(ArmorError::TextAfterBlock.into());
    }
    if begin != end {
        return Err(ArmorError::LabelMismatch {
            begin: begin.to_owned(),
            end: end.to_owned(),
        }
        .into());
    }
    if body.is_empty() {
        return Err(ArmorError::EmptyBody.into());
    }
    let bytes = BASE64
        .decode(body.as_bytes())
        .map_err(|e| ArmorError::BadBase64(e.to_string()))?;
    Ok((begin.to_owned(), bytes))
}

/// True when `bytes`, after leading ASCII whitespace, start with `-----BEGIN AIRLOCK `, i.e. they
/// look like armored text rather than a raw binary artifact.
pub fn is_armored(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(BEGIN_PREFIX.as_bytes())
}

impl airlock_severity::Classify for TransportError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}

impl airlock_severity::Classify for ArmorError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
