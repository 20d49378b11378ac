//! One store suite, run against both backends: the embedded SQLite file and a real PostgreSQL
//! server the test starts itself (`initdb` into a temporary directory, a free loopback port).
//! Each case takes a function that opens a new store (a new connection) on the same database,
//! so races between connections are races between what would be separate processes.

use std::sync::{Arc, Barrier, OnceLock};

use airlock_coordinator::pgstore::PgStore;
use airlock_coordinator::store::{
    CheckpointSigning, NewEntry, SqliteStore, Storage, StoredArtifact,
};
use airlock_coordinator::test_server::TestPostgres;
use airlock_core::ArtifactId;

type Open = Arc<dyn Fn() -> Box<dyn Storage> + Send + Sync>;

fn server() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| TestPostgres::start().expect("a PostgreSQL test server starts"))
}

/// Runs `case` on a fresh SQLite file and on a fresh PostgreSQL database.
fn on_both(name: &str, case: impl Fn(Open)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    case(Arc::new(move || {
        Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn Storage>
    }));
    let url = server().create_database(name).unwrap();
    case(Arc::new(move || {
        Box::new(PgStore::open(&url, "test/log", "key").unwrap()) as Box<dyn Storage>
    }));
}

fn entry(i: u32) -> NewEntry {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&i.to_be_bytes());
    NewEntry {
        artifact: Some(StoredArtifact {
            id: ArtifactId(id),
            kind: if i.is_multiple_of(2) {
                "proposal"
            } else {
                "approval"
            }
            .into(),
            vault_id: format!("v{}", i % 3),
            version: None,
            subject: (i % 2 == 1).then_some(ArtifactId([9; 32])),
            bytes: i.to_be_bytes().to_vec(),
            log_index: 0,
        }),
        leaf: i.to_le_bytes().to_vec(),
        signer_seen: Some(([(i % 4) as u8; 32], u64::from(i))),
    }
}

const SIGN: CheckpointSigning = &|size, root| Ok(format!("{size} {}", hex::encode(root)));

#[test]
fn appends_match_an_in_memory_log_and_survive_reopening() {
    on_both("appends", |open| {
        let mut memory = airlock_log::MemoryLog::new();
        let mut next = 0u32;
        {
            let mut store = open();
            for batch_len in [1, 3, 1, 17, 64, 2] {
                let batch: Vec<NewEntry> = (next..next + batch_len).map(entry).collect();
                next += batch_len;
                for e in &batch {
                    memory.append(&e.leaf);
                }
                let appended = store.append(batch, SIGN).unwrap();
                assert_eq!(appended.size, memory.size());
                assert_eq!(appended.root, memory.root());
            }
        }
        let store = open();
        assert_eq!(store.log_size().unwrap(), u64::from(next));
        assert_eq!(store.checkpoints().unwrap().len(), 6);
        let (size, note) = store.latest_checkpoint().unwrap().unwrap();
        assert_eq!(note, format!("{size} {}", hex::encode(memory.root())));
        assert_eq!(store.leaf(5).unwrap(), 5u32.to_le_bytes().to_vec());
        let mut id5 = [0u8; 32];
        id5[..4].copy_from_slice(&5u32.to_be_bytes());
        let a = store.artifact(&ArtifactId(id5)).unwrap().unwrap();
        assert_eq!((a.kind.as_str(), a.log_index), ("approval", 5));
        assert_eq!(
            store.artifacts_with_prefix("00000005").unwrap(),
            vec![ArtifactId(id5)]
        );
        let about = store
            .artifacts_about(&ArtifactId([9; 32]), "approval")
            .unwrap();
        assert_eq!(about.len(), next as usize / 2);
        assert!(about.windows(2).all(|w| w[0].log_index < w[1].log_index));
        assert_eq!(
            store
                .artifacts_of_kind("proposal", Some("v0"))
                .unwrap()
                .len(),
            (0..next).filter(|i| i % 2 == 0 && i % 3 == 0).count()
        );
        // The highest size each signer reported.
        assert_eq!(store.signer_seen(&[3; 32]).unwrap(), Some(87));
        let hashes = store.read_hashes(&[0, 1, 2]).unwrap();
        assert_eq!(hashes.len(), 3);
        assert!(store.leaf(u64::from(next)).is_err());
        // A range read equals the leaves read one by one; a range past the end names the
        // first missing leaf.
        let end = u64::from(next);
        let one_by_one: Vec<Vec<u8>> = (3..end).map(|i| store.leaf(i).unwrap()).collect();
        assert_eq!(store.leaves(3, end).unwrap(), one_by_one);
        assert_eq!(store.leaves(4, 4).unwrap(), Vec::<Vec<u8>>::new());
        let past = store.leaves(end - 2, end + 3).unwrap_err().to_string();
        assert!(
            past.contains(&format!("log leaf {end} is missing")),
            "{past}"
        );
    });
}

#[test]
fn a_failed_append_changes_nothing() {
    on_both("failed", |open| {
        let mut store = open();
        store.append(vec![entry(1)], SIGN).unwrap();
        // The same artifact again violates the primary key half-way through the batch.
        assert!(store.append(vec![entry(2), entry(1)], SIGN).is_err());
        assert_eq!(store.log_size().unwrap(), 1);
        let mut id2 = [0u8; 32];
        id2[..4].copy_from_slice(&2u32.to_be_bytes());
        assert!(store.artifact(&ArtifactId(id2)).unwrap().is_none());
        let failing: CheckpointSigning = &|_, _| {
            Err(airlock_coordinator::store::StoreError::Other(
                "no key".into(),
            ))
        };
        assert!(store.append(vec![entry(3)], failing).is_err());
        assert_eq!(store.log_size().unwrap(), 1);
        assert_eq!(store.checkpoints().unwrap().len(), 1);
        // Inside an open transaction, a failed append leaves the transaction usable.
        assert!(store.begin_write().unwrap());
        assert!(store.append(vec![entry(4), entry(1)], SIGN).is_err());
        store.append(vec![entry(5)], SIGN).unwrap();
        store.end(true).unwrap();
        assert_eq!(store.log_size().unwrap(), 2);
        // A rolled-back transaction leaves nothing.
        assert!(store.begin_write().unwrap());
        store.append(vec![entry(6)], SIGN).unwrap();
        store.end(false).unwrap();
        assert_eq!(open().log_size().unwrap(), 2);
    });
}

#[test]
fn writers_on_separate_connections_take_turns() {
    on_both("writers", |open| {
        const WRITERS: u32 = 6;
        const EACH: u32 = 25;
        let barrier = Arc::new(Barrier::new(WRITERS as usize));
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (open, barrier) = (Arc::clone(&open), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut store = open();
                    barrier.wait();
                    for i in 0..EACH {
                        // Validate-then-append: the size read inside the transaction must
                        // still be the size when the append lands.
                        assert!(store.begin_write().unwrap());
                        let before = store.log_size().unwrap();
                        let appended = store.append(vec![entry(w * 1000 + i)], SIGN).unwrap();
                        assert_eq!(appended.first_index, before);
                        store.end(true).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = open();
        let size = store.log_size().unwrap();
        assert_eq!(size, u64::from(WRITERS * EACH));
        // Every checkpoint names the root of the leaves below it.
        let mut memory = airlock_log::MemoryLog::new();
        let checkpoints = store.checkpoints().unwrap();
        assert_eq!(checkpoints.len() as u64, size);
        for (i, (cp_size, note)) in checkpoints.iter().enumerate() {
            memory.append(&store.leaf(i as u64).unwrap());
            assert_eq!(*cp_size, memory.size());
            assert_eq!(*note, format!("{cp_size} {}", hex::encode(memory.root())));
        }
    });
}

#[test]
fn a_snapshot_does_not_see_later_commits() {
    on_both("snapshot", |open| {
        let mut writer = open();
        writer.append(vec![entry(1)], SIGN).unwrap();
        let reader = open();
        assert!(reader.begin_read().unwrap());
        assert_eq!(reader.log_size().unwrap(), 1);
        writer.append(vec![entry(2)], SIGN).unwrap();
        assert_eq!(reader.log_size().unwrap(), 1);
        assert_eq!(reader.checkpoints().unwrap().len(), 1);
        reader.end(true).unwrap();
        assert_eq!(reader.log_size().unwrap(), 2);
    });
}

#[test]
fn claims_are_taken_once_until_they_expire() {
    on_both("claims", |open| {
        let (a, b) = (open(), open());
        assert!(a.claim("nonce/1", "", 110, 100).unwrap());
        assert!(!b.claim("nonce/1", "", 110, 101).unwrap());
        assert_eq!(b.claimed("nonce/1", 105).unwrap().as_deref(), Some(""));
        assert_eq!(b.claimed("nonce/1", 110).unwrap(), None);
        assert!(b.claim("nonce/1", "again", 200, 110).unwrap());
        assert!(!a.swap_claim("nonce/1", "", "x", 120).unwrap());
        assert!(a.swap_claim("nonce/1", "again", "x", 120).unwrap());
        assert!(!b.release("nonce/1", Some("again")).unwrap());
        assert!(b.release("nonce/1", Some("x")).unwrap());
        assert!(!a.release("nonce/1", None).unwrap());
        // Racing claims of one key: exactly one wins.
        let winners: usize = (0..8)
            .map(|_| {
                let open = Arc::clone(&open);
                std::thread::spawn(move || open().claim("race", "", 500, 100).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap() as usize)
            .sum();
        assert_eq!(winners, 1);
    });
}

#[test]
fn members_and_actors() {
    on_both("members", |open| {
        let mut store = open();
        store.put_member("alice", &[1; 32], "[]").unwrap();
        store.put_member("bob", &[2; 32], "[]").unwrap();
        // A key names one member only.
        assert!(store.put_member("carol", &[1; 32], "[]").is_err());
        store.put_member("alice", &[3; 32], "[\"x\"]").unwrap();
        let members = store.members().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0], ("alice".into(), [3; 32], "[\"x\"]".into()));
        assert!(store.remove_member("bob").unwrap());
        assert!(!store.remove_member("bob").unwrap());
        assert!(store.begin_write().unwrap());
        store.append(vec![entry(1), entry(2)], SIGN).unwrap();
        store.record_actor(0, 2, "alice").unwrap();
        store.end(true).unwrap();
        assert_eq!(store.actor(1).unwrap().as_deref(), Some("alice"));
        assert_eq!(store.actor(2).unwrap(), None);
        store.note_exported(2).unwrap();
        store.note_exported(2).unwrap();
        assert_eq!(store.exported_sizes().unwrap(), vec![2]);
    });
}

#[test]
fn a_postgres_database_serves_one_log_only() {
    let url = server().create_database("bound").unwrap();
    PgStore::open(&url, "team/log", "key-a").unwrap();
    PgStore::open(&url, "team/log", "key-a").unwrap();
    let err = PgStore::open(&url, "team/log", "key-b").err().unwrap();
    assert!(err.to_string().contains("holds another log"), "{err}");
    let err = PgStore::open(&url, "other/log", "key-a").err().unwrap();
    assert!(err.to_string().contains("holds another log"), "{err}");
    let err = PgStore::open("postgres://airlock@127.0.0.1:1/none", "o", "k")
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
