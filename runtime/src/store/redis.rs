//! A Redis store: one hash per key, for a fleet of servers sharing one Redis.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::lease::{self, BoxFuture, LeaseBackend, LeaseLock};
use super::{LOCK_TIMEOUT, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// The write both saves share (`KEYS[1]` the hash, `ARGV[1]` the JSON): increment the
/// version, or start it at the server's clock in microseconds when the key is new, so that a
/// key deleted and created again never reuses a version a fenced save could still hold.
const WRITE: &str = "
local v
if redis.call('EXISTS', KEYS[1]) == 1 then
  v = redis.call('HINCRBY', KEYS[1], 'version', 1)
else
  local t = redis.call('TIME')
  v = redis.call('HINCRBY', KEYS[1], 'version', t[1] .. string.format('%06d', tonumber(t[2])))
end
redis.call('HSET', KEYS[1], 'credentials', ARGV[1])
return v
";

/// `save`: write unconditionally; the new version.
static SAVE: LazyLock<Script> = LazyLock::new(|| Script::new(WRITE));

/// `save_if`: write only if the version is still `ARGV[2]` (`''`: only if the key is absent);
/// the new version, or nil on conflict.
static SAVE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[2] == '' then
  if exists then return false end
else
  if not exists then return false end
  if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[2] then return false end
end
{WRITE}"
    ))
});

/// Take the lease `KEYS[1]` for `ARGV[1]` (`ARGV[2]` ms) unless another holder has it; 1 if
/// taken. A lease `ARGV[1]` already holds counts as taken, so that retrying is safe.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
         if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
         return 0",
    )
});

/// Extend the lease `KEYS[1]` to `ARGV[2]` ms if `ARGV[1]` holds it; 1 if it does.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
         return 0",
    )
});

/// Delete the lease `KEYS[1]` if `ARGV[1]` holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
});

/// Credentials in Redis, one hash per key (user or account), for a fleet of servers that
/// share one Redis. Connected through the `redis` crate's [`ConnectionManager`]: one
/// multiplexed connection that every clone shares and that reconnects by itself after the
/// server restarts or drops it (the commands running at that moment fail; later ones wait for
/// the new connection).
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::StoreError> {
/// use std::time::Duration;
/// use oauthgen_runtime::RedisStore;
///
/// let store = RedisStore::connect("rediss://:password@redis.internal:6380/0")
///     .await?
///     .with_prefix("myapp:oauth:")
///     .with_lease(Duration::from_secs(20));
/// # Ok(()) }
/// ```
///
/// Key layout, under a prefix (default [`RedisStore::PREFIX`], `oauthgen:`):
///
/// | key | type | holds |
/// |---|---|---|
/// | `<prefix>cred:<key>` | hash | `credentials` (the [`Credentials`] as JSON), `version` (an integer) |
/// | `<prefix>lock:<key>` | string with a TTL | the refresh lock's holder (a random name) |
///
/// - Every save increments `version` in the same Lua script that writes the credentials;
///   [`TokenStore::save_if`] is one script that compares the version (or the key's absence)
///   and writes only when it is unchanged. A new key's version starts at the server's clock
///   in microseconds, so a key deleted and created again does not reuse an old version.
/// - Refresh locks are leases: taken with `SET <prefix>lock:<key> <holder> NX PX <lease>`
///   (in a script that also accepts a lease the same holder already has, so that an attempt
///   can be repeated), renewed every third of the lease (default [`RedisStore::LEASE`]) by a
///   script that checks the holder before `PEXPIRE`, released by a script that checks it
///   before `DEL`, and expired by Redis should the holder die.
/// - Every operation has a deadline (default [`RedisStore::TIMEOUT`]), so a dead or
///   unreachable server gives an error, never a caller that hangs. An operation that is safe
///   to repeat (all but [`TokenStore::save_if`]) is sent once more when it failed because the
///   connection was lost, so the first command after a restart of Redis succeeds; a fenced
///   save that fails that way may or may not have been written (read the entry again).
///
/// **Persistence.** Redis keeps data in memory: configure persistence for it, with the
/// append-only file (`appendonly yes` and `appendfsync everysec`, or `always` to lose
/// nothing), or a restart of Redis signs every user out. Do not let Redis evict these keys
/// (`maxmemory-policy noeviction`, or a database of their own).
///
/// `Debug` output and errors name the server without its user name and password.
///
/// # TLS
///
/// `rediss://` connects with TLS through rustls: the server's certificate must be signed by
/// one of the platform's roots (`rustls-native-certs`: the system's CA bundle, or the files
/// named by `SSL_CERT_FILE`/`SSL_CERT_DIR`) and issued for the URL's host (a DNS name or an
/// IP address). For a server whose certificate comes from a CA of your own, give that CA to
/// [`RedisStore::connect_with_tls`]: then it, and only it, is trusted. A server that asks
/// for client certificates (`tls-auth-clients yes`) takes one from
/// [`RedisStore::connect_with_client_cert`].
///
/// The redis crate reads `rediss://host/#insecure` as "check neither the certificate nor the
/// host name", which this build of it (without its `tls-rustls-insecure` feature) cannot do
/// and would only refuse when connecting; this store refuses such a URL at once with
/// [`StoreError::Config`]. Trust the server's CA instead.
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::StoreError> {
/// use oauthgen_runtime::RedisStore;
///
/// let ca = std::fs::read("/etc/redis/tls/ca.pem").expect("the CA");
/// let store = RedisStore::connect_with_tls("rediss://:password@redis.internal:6380/0", &ca).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// The address without credentials, for messages.
    name: Arc<str>,
    prefix: Arc<str>,
    lease: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.name)
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How long the connection manager waits for one attempt to connect.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the connection manager waits for the answer to a command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

impl RedisStore {
    /// The default key prefix.
    pub const PREFIX: &'static str = "oauthgen:";
    /// How long a refresh lock lasts by default if its holder stops renewing it.
    pub const LEASE: Duration = Duration::from_secs(30);
    /// How long an operation (or [`RedisStore::connect`]) may take by default, reconnecting
    /// included, before it fails.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Connect to the Redis at `url`: `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://` for TLS (verified against the platform's root certificates, see
    /// [TLS](RedisStore#tls)).
    ///
    /// A malformed or unsupported address is [`StoreError::Config`]; a server that cannot
    /// be reached within [`RedisStore::TIMEOUT`] or fails the TLS handshake is
    /// [`StoreError::Io`]. Neither names the password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, None).await
    }

    /// [`RedisStore::connect`] to a `rediss://` URL, trusting the certificate authorities in
    /// `ca_pem` (one or more PEM certificates) instead of the platform's roots. The server's
    /// certificate must still be issued for the URL's host.
    ///
    /// A `redis://` URL, or PEM text without a certificate, is [`StoreError::Config`].
    pub async fn connect_with_tls(url: &str, ca_pem: &[u8]) -> Result<Self, StoreError> {
        Self::open(url, Some(Tls { ca_pem: Some(ca_pem), client: None })).await
    }

    /// [`RedisStore::connect_with_tls`] presenting a client certificate (`cert_pem`: the
    /// certificate and any intermediates, `key_pem`: its private key, PKCS#8, PKCS#1 or SEC1
    /// in PEM), for a server with `tls-auth-clients yes`. Without `ca_pem`, the server is
    /// checked against the platform's roots.
    ///
    /// A `redis://` URL, or PEM text that holds no certificate or no key, is
    /// [`StoreError::Config`]; the messages never show the key.
    pub async fn connect_with_client_cert(
        url: &str,
        ca_pem: Option<&[u8]>,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, StoreError> {
        Self::open(url, Some(Tls { ca_pem, client: Some((cert_pem, key_pem)) })).await
    }

    async fn open(url: &str, tls: Option<Tls<'_>>) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::Config(format!("Redis store `{}`: malformed URL: {e}", redact(url))))?;
        let name = display_name(&parsed);
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(StoreError::Config(format!(
                "Redis store `{name}`: unsupported scheme `{}` (use redis:// or rediss://)",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(StoreError::Config(format!("Redis store `{name}`: the URL has no host")));
        }
        let secret = parsed.password().map(str::to_owned);
        let scrub = |e: &redis::RedisError| {
            let text = one_line(e);
            match &secret {
                Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
                _ => text,
            }
        };
        let config_error = |what: &str| StoreError::Config(format!("Redis store `{name}`: {what}"));
        if parsed.scheme() == "rediss" {
            if parsed.fragment() == Some("insecure") {
                return Err(config_error(
                    "`#insecure` (no certificate or host name check) is not supported; trust the server's CA with \
                     RedisStore::connect_with_tls",
                ));
            }
            install_crypto_provider();
        } else if tls.is_some() {
            return Err(config_error("TLS settings need a `rediss://` URL"));
        }
        let client = match tls {
            None => redis::Client::open(url),
            Some(tls) => redis::Client::build_with_tls(url, tls.certificates().map_err(|e| config_error(&e))?),
        }
        .map_err(|e| config_error(&format!("unusable URL or TLS settings: {}", scrub(&e))))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let io = |reason: String| StoreError::Io { path: name.clone(), reason };
        let conn = match tokio::time::timeout(Self::TIMEOUT, ConnectionManager::new_with_config(client, config)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                let text = scrub(&e);
                let hint = tls_hint(&text);
                return Err(io(format!("cannot connect to Redis: {text}{hint}")));
            }
            Err(_) => return Err(io(format!("cannot connect to Redis: no answer within {:?}", Self::TIMEOUT))),
        };
        Ok(Self {
            conn,
            name: name.as_str().into(),
            prefix: Self::PREFIX.into(),
            lease: Self::LEASE,
            timeout: Self::TIMEOUT,
        })
    }

    /// Put every key under `prefix` instead of [`RedisStore::PREFIX`] (several applications
    /// can share one Redis).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    /// Refresh locks last `lease` instead of [`RedisStore::LEASE`] when their holder stops
    /// renewing them (it renews every third of it).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// Operations fail after `timeout` instead of [`RedisStore::TIMEOUT`]. Note that a save
    /// that timed out may still have been written.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn cred_key(&self, key: &str) -> String {
        format!("{}cred:{key}", self.prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{key}", self.prefix)
    }

    /// Run one command within the deadline, mapping failures to [`StoreError::Io`]. With
    /// `Retry::Once`, a command that failed because the connection was lost (as the first
    /// command after a restart of Redis does) is sent once more, on the new connection: only
    /// for commands that are safe to repeat.
    async fn run<T, F>(&self, retry: Retry, command: impl Fn(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let attempts = async {
            match command(self.conn.clone()).await {
                Err(e) if retry == Retry::Once && (e.is_connection_dropped() || e.is_unrecoverable_error()) => {
                    tracing::debug!(server = %self.name, error = %e, "Redis connection lost; retrying once");
                    command(self.conn.clone()).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Io { path: self.name.to_string(), reason: reason(&e) }),
            Err(_) => Err(StoreError::Io {
                path: self.name.to_string(),
                reason: format!("Redis did not answer within {:?}", self.timeout),
            }),
        }
    }
}

/// What [`RedisStore::connect_with_tls`] and [`RedisStore::connect_with_client_cert`] add to
/// a `rediss://` URL.
struct Tls<'a> {
    ca_pem: Option<&'a [u8]>,
    /// Certificate chain and key, PEM.
    client: Option<(&'a [u8], &'a [u8])>,
}

impl Tls<'_> {
    /// The redis crate's form, after checking that the PEM texts hold what they should (the
    /// redis crate would take a CA file without certificates as "trust nothing").
    fn certificates(&self) -> Result<redis::TlsCertificates, String> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let count = |pem: &[u8], what: &str| {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the {what} is not PEM: {e}"))?;
            if certs.is_empty() {
                return Err(format!("the {what} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"));
            }
            Ok(())
        };
        if let Some(ca) = self.ca_pem {
            count(ca, "CA")?;
        }
        let client_tls = match self.client {
            Some((cert, key)) => {
                count(cert, "client certificate")?;
                // Only whether it parses: the error of the PEM parser never quotes the key.
                PrivateKeyDer::from_pem_slice(key)
                    .map_err(|_| "the client key holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned())?;
                Some(redis::ClientTlsConfig { client_cert: cert.to_vec(), client_key: key.to_vec() })
            }
            None => None,
        };
        Ok(redis::TlsCertificates { client_tls, root_cert: self.ca_pem.map(<[u8]>::to_vec) })
    }
}

/// A hint for TLS failures whose cause is not obvious from rustls's words.
fn tls_hint(text: &str) -> &'static str {
    if text.contains("UnknownIssuer") {
        " (the server's certificate is not signed by a trusted root: trust its CA with RedisStore::connect_with_tls)"
    } else if text.contains("not valid for name") || text.contains("NotValidForName") {
        " (the certificate must name the URL's host)"
    } else if text.contains("alert: CertificateRequired") {
        " (the server asks for a client certificate: RedisStore::connect_with_client_cert)"
    } else if text.contains("alert: UnknownCA") || text.contains("alert: BadCertificate") {
        " (the server refused the client certificate)"
    } else {
        ""
    }
}

/// Whether [`RedisStore::run`] may send a command again after the connection was lost.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Repeating it is harmless (reads, idempotent writes).
    Once,
    /// It may have been applied: report the failure (the caller re-reads).
    Never,
}

/// What went wrong, in one line.
fn reason(e: &redis::RedisError) -> String {
    if e.is_connection_refusal() {
        format!("cannot reach Redis: {}", one_line(e))
    } else if e.is_timeout() {
        format!("Redis did not answer in time: {}", one_line(e))
    } else if e.is_connection_dropped() || e.is_unrecoverable_error() {
        format!("lost the connection to Redis ({}); it reconnects by itself", one_line(e))
    } else {
        format!("Redis: {}", one_line(e))
    }
}

/// `scheme://host[:port][/db]`: the address without user name and password.
fn display_name(url: &url::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = if matches!(url.path(), "" | "/") { "" } else { url.path() };
    format!("{}://{}{port}{path}", url.scheme(), url.host_str().unwrap_or_default())
}

/// A URL that did not parse, with everything between `://` and the last `@` (where a user
/// name and password would be) replaced by `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_owned(),
    }
}

fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `rediss://` builds a rustls client configuration with the process's default crypto
/// provider; when none was chosen (and several are compiled in), choose ring, which the
/// runtime's HTTPS client already uses, rather than panic.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed one meanwhile: then that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl LeaseBackend for RedisStore {
    fn try_acquire(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let (this, k, h) = (self.clone(), self.lock_key(key), holder.to_owned());
        Box::pin(async move {
            let mut invocation = ACQUIRE.prepare_invoke();
            invocation.key(&k).arg(&h).arg(millis(lease));
            let invocation = &invocation;
            let n: i64 =
                this.run(Retry::Once, move |mut c| async move { invocation.invoke_async(&mut c).await }).await?;
            Ok(n == 1)
        })
    }

    fn renew(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let (this, k, h) = (self.clone(), self.lock_key(key), holder.to_owned());
        Box::pin(async move {
            let mut invocation = RENEW.prepare_invoke();
            invocation.key(&k).arg(&h).arg(millis(lease));
            let invocation = &invocation;
            let n: i64 =
                this.run(Retry::Once, move |mut c| async move { invocation.invoke_async(&mut c).await }).await?;
            Ok(n == 1)
        })
    }

    fn release(&self, key: &str, holder: &str) -> BoxFuture<Result<(), StoreError>> {
        let (this, k, h) = (self.clone(), self.lock_key(key), holder.to_owned());
        Box::pin(async move {
            let mut invocation = RELEASE.prepare_invoke();
            invocation.key(&k).arg(&h);
            let invocation = &invocation;
            let _: i64 =
                this.run(Retry::Once, move |mut c| async move { invocation.invoke_async(&mut c).await }).await?;
            Ok(())
        })
    }
}

impl TokenStore for RedisStore {
    type Lock = LeaseLock;

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let k = self.cred_key(key);
        let command = redis::cmd("HMGET").arg(&k).arg("credentials").arg("version").clone();
        let command = &command;
        let (text, version): (Option<String>, Option<String>) =
            self.run(Retry::Once, move |mut c| async move { command.query_async(&mut c).await }).await?;
        let corrupt = |reason: String| StoreError::Corrupt { path: format!("{} (key {k:?})", self.name), reason };
        let (text, version) = match (text, version) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return Err(corrupt("the hash has a `version` but no `credentials` field".into())),
            (Some(text), version) => (text, version),
        };
        let version = match version {
            None => 0,
            Some(v) => v.parse::<i64>().map_err(|_| corrupt(format!("`version` is not an integer: {v:?}")))?,
        };
        let credentials = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(Stored { credentials, version: Version::new(version.cast_unsigned()) }))
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        let k = self.cred_key(key);
        let text = serde_json::to_string(credentials)
            .map_err(|e| StoreError::Io { path: self.name.to_string(), reason: e.to_string() })?;
        // Repeating it writes the same credentials again: harmless.
        let mut invocation = SAVE.prepare_invoke();
        invocation.key(&k).arg(&text);
        let invocation = &invocation;
        let _: i64 = self.run(Retry::Once, move |mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        Ok(())
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        let k = self.cred_key(key);
        let text = serde_json::to_string(credentials)
            .map_err(|e| StoreError::Io { path: self.name.to_string(), reason: e.to_string() })?;
        let expected = expected.map(|v| v.get().cast_signed().to_string()).unwrap_or_default();
        // Not repeated: a first attempt that was applied would make the second a conflict.
        let mut invocation = SAVE_IF.prepare_invoke();
        invocation.key(&k).arg(&text).arg(&expected);
        let invocation = &invocation;
        let written: Option<i64> =
            self.run(Retry::Never, move |mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        match written {
            Some(v) => Ok(Version::new(v.cast_unsigned())),
            None => Err(StoreError::Conflict(key.to_owned())),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let k = self.cred_key(key);
        let command = redis::cmd("DEL").arg(&k).clone();
        let command = &command;
        let n: i64 = self.run(Retry::Once, move |mut c| async move { command.query_async(&mut c).await }).await?;
        Ok(n > 0)
    }

    async fn unlock(&self, lock: LeaseLock) {
        lock.release().await;
    }

    async fn lock(&self, key: &str) -> Result<LeaseLock, StoreError> {
        lease::acquire(Arc::new(self.clone()), key, self.lease, LOCK_TIMEOUT).await
    }
}
