//! A fleet of servers sharing one store, against the certified `oidc-provider` with rotating
//! refresh tokens and 2-second access tokens: 3 OS processes x 300 tasks on one expired
//! token make exactly one token request, round after round, for every store; a lock holder
//! killed mid-refresh is taken over without losing the grant; a DPoP-bound grant is shared
//! by processes that each prove possession of its one key, kept in the store.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use oauthgen_runtime::{AnyStore, Callback, Provider as _, TokenStore as _, authorize_url, exchange};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PROCESSES: usize = 3;
const TASKS: &str = "300";
const TTL: u32 = 2;

async fn refreshes(server: &OidcServer) -> u64 {
    let counts: serde_json::Value = reqwest::get(server.url("/test/counts")).await.unwrap().json().await.unwrap();
    counts["refresh_token"].as_u64().unwrap_or(0)
}

async fn log_in(server: &OidcServer, address: &str) -> oauthgen_runtime::Credentials {
    log_in_as(&TestOp::new(server.port.to_string(), "basic-client", "basic-secret"), address).await
}

/// Sign in with `op` and store the credentials under `user` at `address`.
async fn log_in_as(op: &TestOp, address: &str) -> oauthgen_runtime::Credentials {
    let auth = authorize_url(op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let credentials = exchange(op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();
    AnyStore::open(address).await.unwrap().save("user", &credentials).await.unwrap();
    credentials
}

/// `rounds` rounds, each once the previous token is due: every member's tasks ask at once;
/// every answer has no errors and passes `check` (with its round); all got the same new
/// token, from one token request per round.
async fn rounds_of_one_refresh(
    server: &OidcServer,
    members: &mut [Member],
    first: &oauthgen_runtime::Credentials,
    rounds: u64,
    check: impl Fn(u64, &serde_json::Value),
) {
    let mut previous = first.access_token.secret().clone();
    for round in 1..=rounds {
        // Due half-way through its 2-second life.
        tokio::time::sleep(Duration::from_millis(1150)).await;
        for m in members.iter_mut() {
            m.go();
        }
        let mut tokens = std::collections::BTreeSet::new();
        for m in members.iter_mut() {
            let answer = m.answer();
            assert_eq!(answer["errors"], serde_json::json!([]), "round {round}: {answer}");
            tokens.extend(answer["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()));
            check(round, &answer);
        }
        assert_eq!(tokens.len(), 1, "round {round}: every task of every process got the same token");
        let token = tokens.pop_first().unwrap();
        assert_ne!(token, previous, "round {round}: a new token");
        previous = token;
        assert_eq!(refreshes(server).await, round, "round {round}: one token request per round");
    }
}

/// One fleet server (`helper fleet`).
struct Member {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Member {
    fn spawn(port: u16, address: &str, env: &[(&str, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_helper"))
            .args(["fleet", &port.to_string(), address, "user", TASKS])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdin, stdout }
    }

    fn go(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn answer(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line from a fleet member {line:?}: {e}"))
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rounds` rounds of 3 processes x 300 tasks, each round once the previous token is due.
async fn fleet_refreshes_once_per_round(address: &str, rounds: u64) {
    let server = OidcServer::start(TTL);
    let first = log_in(&server, address).await;
    let mut members: Vec<Member> = (0..PROCESSES).map(|_| Member::spawn(server.port, address, &[])).collect();
    rounds_of_one_refresh(&server, &mut members, &first, rounds, |_, _| {}).await;
    // The grant is alive: the stored refresh token is the newest.
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let mut stored = AnyStore::open(address).await.unwrap().load("user").await.unwrap().unwrap();
    assert!(!stored.invalid);
    oauthgen_runtime::refresh(&op, &mut stored).await.unwrap();
}

/// The lock holder hangs on a token endpoint that never answers and is killed (SIGKILL); another
/// process takes the lock over (at once for a file, after the lease otherwise) and
/// refreshes with the stored refresh token, which the provider never saw used.
async fn killed_holder_is_taken_over(address: &str, lease: Duration) {
    let server = OidcServer::start(TTL);
    log_in(&server, address).await;
    tokio::time::sleep(Duration::from_millis(1150)).await;
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let env =
        [("LEASE_MS", lease.as_millis().to_string()), ("TOKEN_PORT", hole.local_addr().unwrap().port().to_string())];
    let mut holder = Member::spawn(server.port, address, &env);
    holder.go();
    // Wait until the holder's request reached the black hole: it holds the lock now.
    hole.set_nonblocking(false).unwrap();
    let (_conn, _) = hole.accept().unwrap();
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    let killed = Instant::now();
    let env = [("LEASE_MS", lease.as_millis().to_string())];
    let mut next = Member::spawn(server.port, address, &env);
    next.go();
    let answer = next.answer();
    assert_eq!(answer["errors"], serde_json::json!([]), "{answer}");
    assert_eq!(answer["tokens"].as_array().unwrap().len(), 1);
    assert!(killed.elapsed() < lease + Duration::from_secs(10), "taken over soon after the lease");
    assert_eq!(refreshes(&server).await, 1, "the killed holder's request never reached the provider");
}

/// A DPoP-bound grant (RFC 9449) shared by a fleet: its key lives in the store beside the
/// tokens. Round after round one process refreshes, proving possession of the stored key;
/// every process then calls the resource server (which asks each for its nonce first) with
/// the new token and a proof by that same key, which the server checks against the token's
/// binding.
async fn dpop_bound_grant_is_shared(address: &str, rounds: u64) {
    let server = OidcServer::start(TTL);
    let nonce = reqwest::Client::new().post(server.url("/test/resource-nonce?required=true")).send().await.unwrap();
    assert_eq!(nonce.status(), 204);
    let op = TestOp::new(server.port.to_string(), "dpop-client", "dpop-secret").with_dpop().unwrap();
    let first = log_in_as(&op, address).await;
    let key = first.dpop_key.clone().expect("a DPoP-bound grant keeps its key");
    let env = [("DPOP", "1".to_owned()), ("RESOURCE_URL", server.url("/test/resource"))];
    let mut members: Vec<Member> = (0..PROCESSES).map(|_| Member::spawn(server.port, address, &env)).collect();
    rounds_of_one_refresh(&server, &mut members, &first, rounds, |round, answer| {
        assert_eq!(answer["resource"]["status"], 200, "round {round}: {answer}");
        let body: serde_json::Value = serde_json::from_str(answer["resource"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["scheme"], "DPoP", "round {round}: {body}");
        assert_eq!(body["jkt"], key.thumbprint(), "round {round}: bound to the grant's one key");
    })
    .await;
    let stored = AnyStore::open(address).await.unwrap().load("user").await.unwrap().unwrap();
    assert!(stored.is_dpop(), "{}", stored.token_type);
    assert_eq!(
        stored.dpop_key.as_ref().map(oauthgen_runtime::DpopKey::thumbprint),
        Some(key.thumbprint()),
        "the key is kept"
    );
    // Each process was asked for the resource server's nonce once, on its first call only.
    let log: Vec<serde_json::Value> =
        reqwest::get(server.url("/test/resource-log")).await.unwrap().json().await.unwrap();
    let refused = log.iter().filter(|e| e["status"] == 401).count();
    assert_eq!(refused, PROCESSES, "one nonce challenge per process: {log:?}");
    assert_eq!(log.len(), PROCESSES + PROCESSES * usize::try_from(rounds).unwrap(), "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn file_store_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let address = dir.path().join("tokens.json").display().to_string();
    fleet_refreshes_once_per_round(&address, 20).await;
    let address = dir.path().join("killed.json").display().to_string();
    killed_holder_is_taken_over(&address, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("sqlite:{}", dir.path().join("tokens.db").display());
    fleet_refreshes_once_per_round(&address, 20).await;
    let address = format!("sqlite:{}", dir.path().join("killed.db").display());
    killed_holder_is_taken_over(&address, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_fleet() {
    let pg = oauthgen_tests::postgres::PgServer::start();
    fleet_refreshes_once_per_round(&pg.url(), 20).await;
    // The same database, a fresh grant under the same key.
    killed_holder_is_taken_over(&pg.url(), Duration::from_secs(2)).await;
}

/// The DPoP fleet on the store a fleet of servers would share: PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn dpop_bound_grant_fleet() {
    let pg = oauthgen_tests::postgres::PgServer::start();
    dpop_bound_grant_is_shared(&pg.url(), 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_fleet() {
    let redis = oauthgen_tests::redis::RedisServer::start();
    fleet_refreshes_once_per_round(&redis.url(), 20).await;
    killed_holder_is_taken_over(&redis.url(), Duration::from_secs(2)).await;
}
