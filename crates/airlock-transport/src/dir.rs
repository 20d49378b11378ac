//! Directories that cross the gap as a whole (a transfer: artifact files plus their manifest).
//!
//! * **Never show a half-written directory.** [`StagedDir`] builds the directory under a hidden
//!   temporary name beside its final place (each file written with [`crate::write_atomic`]),
//!   and [`StagedDir::commit`] renames it into place in one step, refusing to replace anything.
//!   Dropped without a commit, it removes itself.
//! * **Never follow what the other side put there.** [`read_flat_dir`] reads only regular files
//!   directly in the directory; a symlink, a subdirectory, a device or too many or too large files
//!   are refused before anything is returned.
//! * **Never write outside the allowed places.** [`resolve_within`] canonicalizes a target
//!   directory (resolving `..` and symlinks) and accepts it only under an allowed directory.

use std::fs;
use std::path::{Path, PathBuf};

use crate::TransportError;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TransportError {
    move |source| TransportError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A directory being built under a temporary name; see the module docs.
#[derive(Debug)]
pub struct StagedDir {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Starts building `parent/name`. Refuses when it already exists.
    pub fn new(parent: &Path, name: &str) -> Result<StagedDir, TransportError> {
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return Err(TransportError::NoFileName {
                path: parent.join(name),
            });
        }
        let target = parent.join(name);
        if fs::symlink_metadata(&target).is_ok() {
            return Err(TransportError::AlreadyExists { path: target });
        }
        let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if fs::symlink_metadata(&temp).is_ok() {
            fs::remove_dir_all(&temp).map_err(io_err("remove stale temporary directory", &temp))?;
        }
        fs::create_dir(&temp).map_err(io_err("create temporary directory", &temp))?;
        Ok(StagedDir {
            temp,
            target,
            committed: false,
        })
    }

    /// Writes a file (atomically, fsynced) into the staged directory.
    pub fn write(&self, file_name: &str, bytes: &[u8]) -> Result<(), TransportError> {
        if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(TransportError::NoFileName {
                path: self.temp.join(file_name),
            });
        }
        crate::write_atomic(&self.temp.join(file_name), bytes)
    }

    /// Where the directory will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the directory into place (refusing to replace anything) and fsyncs the parent.
    pub fn commit(mut self) -> Result<PathBuf, TransportError> {
        if fs::symlink_metadata(&self.target).is_ok() {
            return Err(TransportError::AlreadyExists {
                path: self.target.clone(),
            });
        }
        fs::rename(&self.temp, &self.target)
            .map_err(io_err("rename temporary directory to", &self.target))?;
        self.committed = true;
        crate::failpoint::hit("staged-dir.renamed", &self.target.display());
        if let Some(parent) = self.target.parent() {
            #[cfg(unix)]
            fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io_err("fsync directory", parent))?;
            #[cfg(not(unix))]
            let _ = parent;
        }
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}

/// Reads every file directly in `dir`: (name, bytes), sorted by name. Refuses a symlink (the
/// directory itself or an entry), a subdirectory or any non-regular entry, a name that is not
/// UTF-8, more than `max_files` entries, and any file over `max_len` bytes.
pub fn read_flat_dir(
    dir: &Path,
    max_files: usize,
    max_len: u64,
) -> Result<Vec<(String, Vec<u8>)>, TransportError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err("read", dir))?;
    if !meta.is_dir() {
        return Err(TransportError::Io {
            op: "read directory",
            path: dir.to_path_buf(),
            source: std::io::Error::other("not a directory (symlinks are not followed)"),
        });
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| TransportError::Io {
                op: "read",
                path: path.clone(),
                source: std::io::Error::other("file name is not UTF-8"),
            })?;
        let kind = fs::symlink_metadata(&path).map_err(io_err("inspect", &path))?;
        if !kind.file_type().is_file() {
            return Err(TransportError::Io {
                op: "read",
                path,
                source: std::io::Error::other(
                    "not a regular file (symlinks, directories and devices are refused)",
                ),
            });
        }
        if out.len() >= max_files {
            return Err(TransportError::Io {
                op: "read",
                path: dir.to_path_buf(),
                source: std::io::Error::other(format!("more than {max_files} files")),
            });
        }
        let bytes = crate::read_bounded(&path, max_len)?;
        out.push((name, bytes));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Canonicalizes `target` (it must exist and be a directory) and returns it when it lies
/// within one of `allowed` (each canonicalized too; missing ones are skipped).
pub fn resolve_within(
    target: &Path,
    allowed: &[PathBuf],
) -> Result<Option<PathBuf>, TransportError> {
    let canonical = fs::canonicalize(target).map_err(io_err("resolve", target))?;
    if !fs::metadata(&canonical)
        .map_err(io_err("inspect", &canonical))?
        .is_dir()
    {
        return Err(TransportError::Io {
            op: "use",
            path: target.to_path_buf(),
            source: std::io::Error::other("not a directory"),
        });
    }
    for a in allowed {
        if let Ok(root) = fs::canonicalize(a)
            && canonical.starts_with(&root)
        {
            return Ok(Some(canonical));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_directories_appear_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        {
            let staged = StagedDir::new(dir.path(), "b1").unwrap();
            staged.write("a.airlock", b"one").unwrap();
            assert!(!dir.path().join("b1").exists());
            // Dropped without commit: nothing is left.
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let staged = StagedDir::new(dir.path(), "b1").unwrap();
        staged.write("a.airlock", b"one").unwrap();
        assert!(staged.write("../x", b"no").is_err());
        let path = staged.commit().unwrap();
        assert_eq!(fs::read(path.join("a.airlock")).unwrap(), b"one");
        assert!(StagedDir::new(dir.path(), "b1").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn flat_reads_refuse_links_and_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("b");
        fs::create_dir(&b).unwrap();
        fs::write(b.join("x"), b"1").unwrap();
        fs::write(b.join("a"), b"22").unwrap();
        let files = read_flat_dir(&b, 10, 100).unwrap();
        assert_eq!(
            files,
            vec![("a".into(), b"22".to_vec()), ("x".into(), b"1".to_vec())]
        );
        assert!(read_flat_dir(&b, 1, 100).is_err());
        assert!(read_flat_dir(&b, 10, 1).is_err());
        std::os::unix::fs::symlink("/etc/hostname", b.join("link")).unwrap();
        assert!(read_flat_dir(&b, 10, 100).is_err());
        fs::remove_file(b.join("link")).unwrap();
        fs::create_dir(b.join("sub")).unwrap();
        assert!(read_flat_dir(&b, 10, 100).is_err());
        std::os::unix::fs::symlink(&b, dir.path().join("blink")).unwrap();
        assert!(read_flat_dir(&dir.path().join("blink"), 10, 100).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn targets_must_resolve_inside_an_allowed_directory() {
        let dir = tempfile::tempdir().unwrap();
        let usb = dir.path().join("usb");
        let other = dir.path().join("other");
        fs::create_dir_all(usb.join("sub")).unwrap();
        fs::create_dir(&other).unwrap();
        std::os::unix::fs::symlink(&other, usb.join("escape")).unwrap();
        let allowed = vec![usb.clone()];
        assert!(resolve_within(&usb, &allowed).unwrap().is_some());
        assert!(
            resolve_within(&usb.join("sub"), &allowed)
                .unwrap()
                .is_some()
        );
        assert!(
            resolve_within(&usb.join("sub/../../other"), &allowed)
                .unwrap()
                .is_none()
        );
        assert!(
            resolve_within(&usb.join("escape"), &allowed)
                .unwrap()
                .is_none()
        );
        assert!(resolve_within(&other, &allowed).unwrap().is_none());
        assert!(resolve_within(&usb.join("missing"), &allowed).is_err());
    }
}
