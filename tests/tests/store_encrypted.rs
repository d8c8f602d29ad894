//! `EncryptedStore`: it passes the store suite over other stores, keeps no token in them,
//! refuses tampered, moved and unknown-key records, and rotates keys.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use oauthgen_runtime::store::{StoreError, TokenStore};
use oauthgen_runtime::{Credentials, EncryptedStore, EncryptionKey, MemoryStore, SqliteStore};
use oauthgen_tests::conformance::{self, credentials};

const MARKER: &str = "oauthgen-encrypted-v1";

fn key_a() -> EncryptionKey {
    EncryptionKey::new("2026-05", [0xA5; 32])
}

fn key_b() -> EncryptionKey {
    EncryptionKey::new("2026-11", [0x3C; 32])
}

/// What the inner store holds under `key`, as stored.
async fn raw(inner: &MemoryStore, key: &str) -> Credentials {
    inner.load(key).await.unwrap().expect("an inner record")
}

fn kid(record: &Credentials) -> &str {
    record.extra["kid"].as_str().unwrap()
}

fn access(c: &Credentials) -> &str {
    c.access_token.secret()
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_memory_store_conforms() {
    let inner = MemoryStore::new();
    let a = EncryptedStore::new(inner.clone(), key_b());
    let b = EncryptedStore::new(inner.clone(), key_b());
    conformance::check(&a, &b, "enc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let a = EncryptedStore::new(SqliteStore::open(&path).unwrap(), key_b());
    let b = EncryptedStore::new(SqliteStore::open(&path).unwrap(), key_b());
    conformance::check(&a, &b, "enc").await;

    // The database itself holds no token.
    a.save("alice", &credentials("at-in-sqlite", "rt-in-sqlite")).await.unwrap();
    // Every file of the database (the main file, its write-ahead log).
    let mut bytes = Vec::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(file.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(MARKER), "the envelope is stored");
    assert!(!text.contains("at-in-sqlite") && !text.contains("rt-in-sqlite"), "no token in the database file");
}

#[tokio::test]
async fn the_inner_store_holds_no_token() {
    let inner = MemoryStore::new();
    let store = EncryptedStore::new(inner.clone(), key_b());
    let mut creds = credentials("at-very-secret", "rt-very-secret");
    creds.id_token = Some(oauthgen_runtime::IdToken::new("idt-very-secret".into()));
    store.save("alice", &creds).await.unwrap();

    let record = raw(&inner, "alice").await;
    let json = serde_json::to_string(&record).unwrap();
    for secret in ["at-very-secret", "rt-very-secret", "idt-very-secret", "openid"] {
        assert!(!json.contains(secret), "`{secret}` in the inner record: {json}");
    }
    assert_eq!(record.token_type, MARKER);
    assert_eq!(access(&record), "");
    assert!(record.refresh_token.is_none() && record.id_token.is_none() && record.expires_at.is_none());
    assert_eq!(record.extra.keys().collect::<Vec<_>>(), ["kid", "sealed"]);
    assert_eq!(kid(&record), "2026-11");

    // The real credentials come back whole.
    let back = store.load("alice").await.unwrap().unwrap();
    assert_eq!(access(&back), "at-very-secret");
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-very-secret");
    assert_eq!(back.id_token.unwrap().secret(), "idt-very-secret");
    assert_eq!(back.scopes, ["openid"]);
    assert_eq!(back.expires_at, creds.expires_at);

    // A fresh nonce per save: the same credentials seal differently.
    store.save("alice", &creds).await.unwrap();
    assert_ne!(raw(&inner, "alice").await.extra["sealed"], record.extra["sealed"]);
}

#[tokio::test]
async fn a_tampered_record_is_refused_and_left_alone() {
    let inner = MemoryStore::new();
    let store = EncryptedStore::new(inner.clone(), key_b());
    store.save("alice", &credentials("at-1", "rt-1")).await.unwrap();
    let sealed = URL_SAFE_NO_PAD.decode(raw(&inner, "alice").await.extra["sealed"].as_str().unwrap()).unwrap();

    // A byte of the nonce, of the ciphertext, of the tag; and a truncated record.
    let mut variants: Vec<Vec<u8>> = [0, 12, sealed.len() / 2, sealed.len() - 1]
        .into_iter()
        .map(|i| {
            let mut v = sealed.clone();
            v[i] ^= 0x01;
            v
        })
        .collect();
    variants.push(sealed[..20].to_vec());
    for tampered in variants {
        let mut record = raw(&inner, "alice").await;
        record.extra.insert("sealed".into(), URL_SAFE_NO_PAD.encode(&tampered).into());
        inner.save("alice", &record).await.unwrap();
        let before = inner.load_versioned("alice").await.unwrap().unwrap();

        let err = store.load("alice").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("cannot be decrypted (tampered, or the wrong key)"), "{message}");
        assert!(message.contains("`alice`"), "names the entry: {message}");
        assert!(!message.contains("at-1"), "{message}");
        assert!(store.load_versioned("alice").await.is_err());

        // Nothing was written.
        let after = inner.load_versioned("alice").await.unwrap().unwrap();
        assert_eq!(after.version, before.version);
        assert_eq!(
            serde_json::to_value(&after.credentials).unwrap(),
            serde_json::to_value(&before.credentials).unwrap()
        );
    }

    // A `sealed` that is not base64 at all, and an envelope without it.
    let mut record = raw(&inner, "alice").await;
    record.extra.insert("sealed".into(), "***".into());
    inner.save("alice", &record).await.unwrap();
    assert!(store.load("alice").await.unwrap_err().to_string().contains("cannot be decrypted"));
    record.extra.remove("sealed");
    inner.save("alice", &record).await.unwrap();
    assert!(store.load("alice").await.unwrap_err().to_string().contains("without `sealed`"));
}

#[tokio::test]
async fn a_record_copied_to_another_key_does_not_decrypt() {
    let inner = MemoryStore::new();
    let store = EncryptedStore::new(inner.clone(), key_b());
    store.save("alice", &credentials("at-alice", "rt-alice")).await.unwrap();
    store.save("bob", &credentials("at-bob", "rt-bob")).await.unwrap();

    // Alice's record, copied over Bob's by someone who can write to the inner store.
    inner.save("bob", &raw(&inner, "alice").await).await.unwrap();
    let err = store.load("bob").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot be decrypted (tampered, or the wrong key)"), "{err}");
    assert_eq!(access(&store.load("alice").await.unwrap().unwrap()), "at-alice");

    // A record sealed with another key of the same id does not decrypt either.
    let impostor = EncryptedStore::new(inner.clone(), EncryptionKey::new("2026-11", [0x77; 32]));
    let err = impostor.load("alice").await.unwrap_err();
    assert!(err.to_string().contains("cannot be decrypted (tampered, or the wrong key)"), "{err}");
}

#[tokio::test]
async fn keys_rotate() {
    let inner = MemoryStore::new();
    let old = EncryptedStore::new(inner.clone(), key_a());
    old.save("alice", &credentials("at-1", "rt-1")).await.unwrap();
    old.save("bob", &credentials("at-bob", "rt-bob")).await.unwrap();
    assert_eq!(kid(&raw(&inner, "alice").await), "2026-05");

    // The new key is current, the old one still read.
    let rotating = EncryptedStore::new(inner.clone(), key_b()).with_old_key(key_a());
    let stored = rotating.load_versioned("alice").await.unwrap().unwrap();
    assert_eq!(access(&stored.credentials), "at-1");
    // Versions pass through: a fenced save against the version read works.
    rotating.save_if("alice", Some(stored.version), &stored.credentials).await.unwrap();
    assert_eq!(kid(&raw(&inner, "alice").await), "2026-11", "saves seal with the current key");

    let new_only = EncryptedStore::new(inner.clone(), key_b());
    assert_eq!(access(&new_only.load("alice").await.unwrap().unwrap()), "at-1");

    // `reencrypt` re-seals one entry now, once.
    assert!(new_only.load("bob").await.is_err(), "bob is still sealed with the old key");
    assert!(rotating.reencrypt("bob").await.unwrap());
    assert_eq!(kid(&raw(&inner, "bob").await), "2026-11");
    assert_eq!(access(&new_only.load("bob").await.unwrap().unwrap()), "at-bob");
    assert!(!rotating.reencrypt("bob").await.unwrap(), "already sealed with the current key");
    assert!(!rotating.reencrypt("nobody").await.unwrap(), "no entry");
}

#[tokio::test]
async fn an_unknown_key_id_is_named() {
    let inner = MemoryStore::new();
    EncryptedStore::new(inner.clone(), key_a()).save("alice", &credentials("at-1", "rt-1")).await.unwrap();

    let store = EncryptedStore::new(inner.clone(), key_b());
    let err = store.load("alice").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("encryption key `2026-05`"), "names the record's key id: {message}");
    assert!(message.contains("`2026-11`"), "and the keys the store has: {message}");
    for secret in [STANDARD.encode([0xA5; 32]), STANDARD.encode([0x3C; 32]), "165".into(), "at-1".into()] {
        assert!(!message.contains(&secret), "{message}");
    }
    assert!(store.reencrypt("alice").await.is_err(), "reencrypt cannot open it either");
    assert_eq!(kid(&raw(&inner, "alice").await), "2026-05", "and left it alone");
}

#[tokio::test]
async fn plaintext_records_are_refused_unless_accepted() {
    let inner = MemoryStore::new();
    inner.save("alice", &credentials("at-plain", "rt-plain")).await.unwrap();

    let strict = EncryptedStore::new(inner.clone(), key_b());
    let err = strict.load("alice").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("not encrypted") && err.to_string().contains("accept_plaintext"), "{err}");
    assert!(strict.reencrypt("alice").await.is_err());

    // Migration: read as is, sealed at the next save (or by `reencrypt`).
    let migrating = EncryptedStore::new(inner.clone(), key_b()).accept_plaintext(true);
    assert_eq!(access(&migrating.load("alice").await.unwrap().unwrap()), "at-plain");
    assert!(migrating.reencrypt("alice").await.unwrap());
    assert_eq!(kid(&raw(&inner, "alice").await), "2026-11");
    assert_eq!(access(&strict.load("alice").await.unwrap().unwrap()), "at-plain");

    inner.save("bob", &credentials("at-bob", "rt-bob")).await.unwrap();
    let bob = migrating.load("bob").await.unwrap().unwrap();
    migrating.save("bob", &bob).await.unwrap();
    assert_eq!(raw(&inner, "bob").await.token_type, MARKER);
}

#[test]
fn keys_from_base64() {
    let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap().wrapping_mul(37).wrapping_add(200));
    for encoded in [STANDARD.encode(bytes), URL_SAFE.encode(bytes), URL_SAFE_NO_PAD.encode(bytes)] {
        let key = EncryptionKey::from_base64("k", &encoded).unwrap();
        assert_eq!(key.id(), "k");
        assert_eq!(URL_SAFE_NO_PAD.decode(key.secret_base64()).unwrap(), bytes);
    }

    let short = STANDARD.encode([1u8; 31]);
    let err = EncryptionKey::from_base64("2026-11", &short).unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    assert_eq!(err.to_string(), "encryption key `2026-11`: 31 bytes, expected 32");
    let err = EncryptionKey::from_base64("2026-11", "not base64!").unwrap_err();
    assert_eq!(err.to_string(), "encryption key `2026-11`: not valid base64");

    let (a, b) = (EncryptionKey::generate("a").unwrap(), EncryptionKey::generate("b").unwrap());
    assert_ne!(a.secret_base64(), b.secret_base64());
    let again = EncryptionKey::from_base64("a", &a.secret_base64()).unwrap();
    assert_eq!(again.secret_base64(), a.secret_base64());
}

#[test]
fn debug_shows_no_key_bytes() {
    let key = EncryptionKey::new("2026-11", [0xEE; 32]);
    let store =
        EncryptedStore::new(MemoryStore::new(), key.clone()).with_old_key(EncryptionKey::new("2026-05", [0xEE; 32]));
    for debug in [format!("{key:?}"), format!("{key:#?}"), format!("{store:?}"), format!("{store:#?}")] {
        assert!(debug.contains("2026-11"), "the id is shown: {debug}");
        let lower = debug.to_lowercase();
        for bytes in ["238", "ee", "7u7u"] {
            assert!(!lower.contains(bytes), "key bytes in `{debug}`");
        }
    }
    assert!(format!("{store:?}").contains("2026-05"));
}
