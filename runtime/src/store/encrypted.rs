//! Credentials encrypted at rest over any [`TokenStore`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use zeroize::Zeroizing;

use super::{StoreError, Stored, TokenStore, Version};
use crate::{AccessToken, Credentials};

/// The `token_type` of a sealed record, and the format's name in the AEAD's additional data.
const MARKER: &str = "oauthgen-encrypted-v1";
/// The length of an AES-256 key.
const KEY_LEN: usize = 32;
/// The length of an AES-GCM tag.
const TAG_LEN: usize = 16;

/// An AES-256-GCM key for [`EncryptedStore`], with the id that sealed records name it by.
///
/// The id is not secret: it is stored next to each record (as `kid`) so that, after a
/// rotation, the store knows which key opens it. Pick ids that say when the key was made
/// (`"2026-11"`). `Debug` prints the id only; the key bytes are zeroed when it is dropped.
#[derive(Clone)]
pub struct EncryptionKey {
    id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl EncryptionKey {
    /// The key `bytes`, named `id`. The caller's copy of `bytes` is not zeroed.
    pub fn new(id: impl Into<String>, bytes: [u8; KEY_LEN]) -> Self {
        Self { id: id.into(), bytes: Zeroizing::new(bytes) }
    }

    /// A key from the base64 (standard or URL-safe, padded or not) of its 32 bytes, as kept
    /// in a secret manager or an environment variable.
    ///
    /// A string that is not base64, or not of 32 bytes, is [`StoreError::Config`]; the
    /// message never contains the string.
    pub fn from_base64(id: impl Into<String>, encoded: &str) -> Result<Self, StoreError> {
        let id = id.into();
        let encoded = encoded.trim();
        let decoded = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(encoded).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| StoreError::Config(format!("encryption key `{id}`: not valid base64")))?;
        let bytes = <[u8; KEY_LEN]>::try_from(decoded.as_slice()).map_err(|_| {
            StoreError::Config(format!("encryption key `{id}`: {} bytes, expected {KEY_LEN}", decoded.len()))
        })?;
        Ok(Self::new(id, bytes))
    }

    /// A new random key named `id` (from the operating system's generator). Keep it with
    /// [`EncryptionKey::secret_base64`]: credentials sealed with a lost key are lost.
    pub fn generate(id: impl Into<String>) -> Result<Self, StoreError> {
        let id = id.into();
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| StoreError::Config(format!("encryption key `{id}`: the system's random generator failed")))?;
        Ok(Self { id, bytes })
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's bytes in URL-safe base64 (what [`EncryptionKey::from_base64`] reads), to
    /// keep a generated key in a secret manager. Handle with care: it opens every record
    /// sealed with this key.
    pub fn secret_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes.as_ref())
    }

    fn aead(&self) -> Result<LessSafeKey, ring::error::Unspecified> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.bytes.as_ref())?))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A [`TokenStore`] that keeps credentials encrypted in another store: AES-256-GCM, keys
/// rotated without downtime.
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::StoreError> {
/// use oauthgen_runtime::{EncryptedStore, EncryptionKey, FileStore, TokenStore as _};
///
/// let key = EncryptionKey::from_base64("2026-11", &std::env::var("TOKEN_KEY").unwrap_or_default())?;
/// let old = EncryptionKey::from_base64("2026-05", &std::env::var("OLD_TOKEN_KEY").unwrap_or_default())?;
/// let store = EncryptedStore::new(FileStore::new("tokens.json"), key).with_old_key(old);
/// // Reads records sealed with either key; every save seals with `2026-11`.
/// let credentials = store.load("alice").await?;
/// // Re-seal one record with the current key now rather than at its next refresh.
/// store.reencrypt("alice").await?;
/// # Ok(()) }
/// ```
///
/// # Record format
///
/// The inner store holds, for each key, an envelope [`Credentials`] whose `token_type` is
/// `oauthgen-encrypted-v1`, whose access token is empty, with no other token, no expiry,
/// no scopes, and `extra` holding
///
/// ```json
/// { "kid": "2026-11", "sealed": "<base64url, unpadded: nonce (12) || ciphertext || tag (16)>" }
/// ```
///
/// where the ciphertext is the JSON of the real credentials. Each save draws a fresh random
/// 96-bit nonce, so rotate keys well before 2³² saves under one key. The AEAD's additional
/// data is `oauthgen-encrypted-v1`, a zero byte and the store key: a record copied under
/// another key (another user) does not decrypt.
///
/// Versions and locks are the inner store's, unchanged, so fenced saves
/// ([`TokenStore::save_if`]) and refresh locks work as they do without encryption.
///
/// # Reading
///
/// - An envelope whose `kid` is the current key's or an old key's
///   ([`EncryptedStore::with_old_key`]) is decrypted.
/// - An envelope naming a key this store does not have is [`StoreError::Corrupt`], naming
///   the key id.
/// - An envelope that fails to decrypt (modified, or copied from another entry) is
///   [`StoreError::Corrupt`]: "cannot be decrypted (tampered, or the wrong key)".
///
/// Failed reads change nothing in the inner store.
///
/// # Turning encryption on for existing data
///
/// Records written before encryption was turned on are plain credentials. They are refused
/// ([`StoreError::Corrupt`]) unless [`EncryptedStore::accept_plaintext`] is set, in which
/// case they are returned as they are and sealed at their next save (or at once with
/// [`EncryptedStore::reencrypt`]). Refusing is the default because a plaintext record
/// carries no proof of where it came from: whoever can write to the inner store could plant
/// credentials of their choosing for any user. Turn it on while migrating, then off again.
///
/// # Rotation
///
/// Make the new key current and pass the previous one to [`EncryptedStore::with_old_key`].
/// Records are re-sealed with the current key as they are saved (at every refresh), or at
/// once with [`EncryptedStore::reencrypt`]; drop the old key once no record names it.
#[derive(Clone)]
pub struct EncryptedStore<S> {
    inner: S,
    current: EncryptionKey,
    old: Vec<EncryptionKey>,
    accept_plaintext: bool,
    random: SystemRandom,
}

impl<S: fmt::Debug> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("current", &self.current)
            .field("old", &self.old)
            .field("accept_plaintext", &self.accept_plaintext)
            .finish_non_exhaustive()
    }
}

impl<S> EncryptedStore<S> {
    /// `inner`, with every record sealed with `current`.
    pub fn new(inner: S, current: EncryptionKey) -> Self {
        Self { inner, current, old: Vec::new(), accept_plaintext: false, random: SystemRandom::new() }
    }

    /// Also open records sealed with `key` (a previous key, during a rotation). Keys are
    /// found by id: the current key first, then old keys in the order they were added.
    #[must_use]
    pub fn with_old_key(mut self, key: EncryptionKey) -> Self {
        self.old.push(key);
        self
    }

    /// Whether records that are not encrypted (written before encryption was turned on) are
    /// read as they are, to be sealed at their next save. Off by default: see
    /// [Turning encryption on for existing data](EncryptedStore#turning-encryption-on-for-existing-data).
    #[must_use]
    pub fn accept_plaintext(mut self, accept: bool) -> Self {
        self.accept_plaintext = accept;
        self
    }

    /// The store the sealed records are kept in.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn key(&self, id: &str) -> Option<&EncryptionKey> {
        std::iter::once(&self.current).chain(&self.old).find(|k| k.id == id)
    }

    /// `credentials` sealed with the current key, for `key`.
    fn seal(&self, key: &str, credentials: &Credentials) -> Result<Credentials, StoreError> {
        let failed = |reason: String| StoreError::Io { path: entry(key), reason };
        let mut nonce = [0; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| failed("the system's random generator failed".into()))?;
        let plaintext = Zeroizing::new(
            serde_json::to_vec(credentials).map_err(|e| failed(format!("cannot serialise credentials: {e}")))?,
        );
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&plaintext);
        let tag = self
            .current
            .aead()
            .and_then(|k| {
                k.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad(key), &mut sealed[NONCE_LEN..])
            })
            .map_err(|_| failed("cannot encrypt credentials".into()))?;
        sealed.extend_from_slice(tag.as_ref());
        Ok(Credentials {
            access_token: AccessToken::new(String::new()),
            token_type: MARKER.to_owned(),
            refresh_token: None,
            expires_at: None,
            issued_at: None,
            scopes: Vec::new(),
            id_token: None,
            extra: [
                ("kid".to_owned(), self.current.id.clone().into()),
                ("sealed".to_owned(), URL_SAFE_NO_PAD.encode(&sealed).into()),
            ]
            .into_iter()
            .collect(),
            invalid: false,
            dpop_key: None,
        })
    }

    /// The credentials in `record`, stored under `key`, and the id of the key that sealed
    /// them (`None`: a plaintext record).
    fn open(&self, key: &str, record: Credentials) -> Result<(Credentials, Option<String>), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { path: entry(key), reason };
        if record.token_type != MARKER {
            if self.accept_plaintext {
                return Ok((record, None));
            }
            return Err(corrupt(
                "the record is not encrypted (written before encryption was turned on?); \
                 enable `accept_plaintext` to read it and encrypt it at its next save"
                    .into(),
            ));
        }
        let field = |name: &str| {
            record
                .extra
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| corrupt(format!("encrypted record without `{name}`")))
        };
        let kid = field("kid")?;
        let Some(secret) = self.key(kid) else {
            let known = std::iter::once(&self.current).chain(&self.old).map(|k| format!("`{}`", k.id));
            return Err(corrupt(format!(
                "sealed with encryption key `{kid}`, which this store does not have (it has {})",
                known.collect::<Vec<_>>().join(", ")
            )));
        };
        let undecryptable = || corrupt("cannot be decrypted (tampered, or the wrong key)".into());
        let mut sealed = Zeroizing::new(URL_SAFE_NO_PAD.decode(field("sealed")?).map_err(|_| undecryptable())?);
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(undecryptable());
        }
        let (nonce, ciphertext) = sealed.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| undecryptable())?;
        let plaintext =
            secret.aead().and_then(|k| k.open_in_place(nonce, aad(key), ciphertext)).map_err(|_| undecryptable())?;
        // The message of a serde error may quote the input: it is not passed on.
        let credentials =
            serde_json::from_slice(plaintext).map_err(|_| corrupt("decrypted, but not valid credentials".into()))?;
        Ok((credentials, Some(kid.to_owned())))
    }
}

/// How errors name an entry.
fn entry(key: &str) -> String {
    format!("encrypted entry `{key}`")
}

/// The additional data that binds a sealed record to its format and its key.
fn aad(key: &str) -> Aad<Vec<u8>> {
    let mut aad = Vec::with_capacity(MARKER.len() + 1 + key.len());
    aad.extend_from_slice(MARKER.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    Aad::from(aad)
}

impl<S: TokenStore> EncryptedStore<S> {
    /// Seal the entry under `key` with the current key now, under the refresh lock and with
    /// a fenced save; whether it was rewritten (`false`: no entry, or already sealed with the
    /// current key). Plaintext records are sealed too when
    /// [`EncryptedStore::accept_plaintext`] is set, and refused otherwise.
    pub async fn reencrypt(&self, key: &str) -> Result<bool, StoreError> {
        let _lock = self.inner.lock(key).await?;
        let Some(stored) = self.inner.load_versioned(key).await? else {
            return Ok(false);
        };
        let (credentials, kid) = self.open(key, stored.credentials)?;
        if kid.as_deref() == Some(self.current.id.as_str()) {
            return Ok(false);
        }
        let sealed = self.seal(key, &credentials)?;
        self.inner.save_if(key, Some(stored.version), &sealed).await?;
        Ok(true)
    }
}

impl<S: TokenStore> TokenStore for EncryptedStore<S> {
    type Lock = S::Lock;

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let Some(stored) = self.inner.load_versioned(key).await? else {
            return Ok(None);
        };
        let (credentials, _) = self.open(key, stored.credentials)?;
        Ok(Some(Stored { credentials, version: stored.version }))
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        let sealed = self.seal(key, credentials)?;
        self.inner.save(key, &sealed).await
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        let sealed = self.seal(key, credentials)?;
        self.inner.save_if(key, expected, &sealed).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    async fn unlock(&self, lock: Self::Lock) {
        self.inner.unlock(lock).await;
    }

    async fn lock(&self, key: &str) -> Result<Self::Lock, StoreError> {
        self.inner.lock(key).await
    }
}
