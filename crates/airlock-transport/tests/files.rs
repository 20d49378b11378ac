//! Atomic writes and bounded reads.

mod support;

use std::fs;

use airlock_transport::{
    TransportError, read_bounded, write_atomic, write_atomic_private, write_atomic_private_new,
};
use support::ScratchDir;

#[test]
fn write_atomic_creates_and_replaces_without_leftovers() {
    let dir = ScratchDir::new("replace");
    let target = dir.path().join("artifact.bin");

    write_atomic(&target, b"first version").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"first version");
    assert_eq!(dir.entries(), ["artifact.bin"]);

    write_atomic(&target, b"second, longer version of the artifact").unwrap();
    assert_eq!(
        fs::read(&target).unwrap(),
        b"second, longer version of the artifact"
    );
    write_atomic(&target, b"").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"");
    assert_eq!(dir.entries(), ["artifact.bin"], "no temporary files remain");
}

#[test]
fn write_atomic_into_missing_directory_leaves_nothing() {
    let dir = ScratchDir::new("missing-parent");
    let target = dir.path().join("no-such-dir").join("artifact.bin");
    let err = write_atomic(&target, b"data").unwrap_err();
    assert!(matches!(err, TransportError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("no-such-dir"),
        "error names the path: {err}"
    );
    assert!(!target.exists());
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn write_atomic_over_a_directory_fails_and_cleans_up() {
    let dir = ScratchDir::new("target-is-dir");
    let target = dir.path().join("subdir");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"untouched").unwrap();

    let err = write_atomic(&target, b"data").unwrap_err();
    assert!(err.to_string().contains("subdir"), "{err}");
    assert!(target.is_dir(), "the directory is still there");
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"untouched");
    assert_eq!(dir.entries(), ["subdir"], "temporary file removed");

    let err = write_atomic_private(&target, b"data").unwrap_err();
    assert!(err.to_string().contains("subdir"), "{err}");
    assert_eq!(dir.entries(), ["subdir"], "temporary file removed");
}

#[test]
fn write_atomic_refuses_a_path_without_file_name() {
    let dir = ScratchDir::new("no-name");
    let err = write_atomic(&dir.path().join(".."), b"x").unwrap_err();
    assert!(matches!(err, TransportError::NoFileName { .. }), "{err:?}");
    assert!(dir.entries().is_empty());
}

#[cfg(unix)]
#[test]
fn private_writes_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ScratchDir::new("private");
    let target = dir.path().join("key");
    write_atomic_private(&target, b"secret").unwrap();
    let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let target2 = dir.path().join("key2");
    write_atomic_private_new(&target2, b"secret").unwrap();
    let mode = fs::metadata(&target2).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(dir.entries(), ["key", "key2"]);
}

#[test]
fn write_new_refuses_to_overwrite() {
    let dir = ScratchDir::new("no-clobber");
    let target = dir.path().join("key");
    write_atomic_private_new(&target, b"original").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"original");

    let err = write_atomic_private_new(&target, b"replacement").unwrap_err();
    assert!(
        matches!(err, TransportError::AlreadyExists { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fs::read(&target).unwrap(), b"original");
    assert_eq!(dir.entries(), ["key"]);
}

#[cfg(unix)]
#[test]
fn write_new_refuses_a_dangling_symlink() {
    let dir = ScratchDir::new("no-clobber-symlink");
    let target = dir.path().join("key");
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), &target).unwrap();
    let err = write_atomic_private_new(&target, b"x").unwrap_err();
    assert!(
        matches!(err, TransportError::AlreadyExists { .. }),
        "{err:?}"
    );
    assert!(!dir.path().join("elsewhere").exists());
    assert_eq!(dir.entries(), ["key"]);
}

#[test]
fn read_bounded_reads_files_up_to_the_cap() {
    let dir = ScratchDir::new("read-ok");
    let path = dir.path().join("f");
    fs::write(&path, b"0123456789").unwrap();
    assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
    assert_eq!(read_bounded(&path, 1000).unwrap(), b"0123456789");
    fs::write(&path, b"").unwrap();
    assert_eq!(read_bounded(&path, 0).unwrap(), b"");
}

#[test]
fn read_bounded_rejects_one_byte_over() {
    let dir = ScratchDir::new("read-over");
    let path = dir.path().join("f");
    fs::write(&path, b"0123456789").unwrap();
    let err = read_bounded(&path, 9).unwrap_err();
    match &err {
        TransportError::TooLarge { size, max, .. } => assert_eq!((*size, *max), (10, 9)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("10 bytes") && msg.contains("9 bytes"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// A sparse 1 TiB file: reading it (or allocating for it) would take forever, so an immediate
/// `TooLarge` shows the size was checked before reading.
#[test]
fn read_bounded_rejects_huge_file_without_reading_it() {
    let dir = ScratchDir::new("read-huge");
    let path = dir.path().join("huge");
    let f = fs::File::create(&path).unwrap();
    f.set_len(1 << 40).unwrap();
    drop(f);
    let start = std::time::Instant::now();
    let err = read_bounded(&path, 64 * 1024).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    let msg = err.to_string();
    assert!(msg.contains("1099511627776 bytes"), "{msg}");
    assert!(msg.contains("65536 bytes"), "{msg}");
}

/// `/dev/zero` reports size 0 but never ends: reading must stop just past the cap.
#[cfg(unix)]
#[test]
fn read_bounded_stops_reading_an_endless_device() {
    let path = std::path::Path::new("/dev/zero");
    let err = read_bounded(path, 4096).unwrap_err();
    assert!(
        matches!(err, TransportError::GrewPastLimit { max: 4096, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/dev/zero"), "{err}");
}

#[test]
fn read_bounded_refuses_directories_and_missing_files() {
    let dir = ScratchDir::new("read-dir");
    let err = read_bounded(dir.path(), 1 << 20).unwrap_err();
    assert!(
        matches!(err, TransportError::IsADirectory { .. }),
        "{err:?}"
    );

    let missing = dir.path().join("missing");
    let err = read_bounded(&missing, 1 << 20).unwrap_err();
    assert!(matches!(err, TransportError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing"), "{err}");
}
