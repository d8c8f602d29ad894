//! A second process for the tests that need one.
//!
//! - `helper refresh-loop PORT STORE KEY N`: N times, get a token from a `TokenManager` on the
//!   shared `FileStore` and then report it rejected, which refreshes unless another process
//!   already has. Exits 0 after N rounds, 1 on the first error (printed).
//! - `helper store-writer STORE KEY`: save credentials with an increasing counter in
//!   `extra.n`, forever (the test kills it).
//! - `helper fleet PORT STORE KEY TASKS`: one server of a fleet. For each line `go` on its
//!   standard input, TASKS tasks ask a `TokenManager` on the store at address STORE (any
//!   `AnyStore` address) for a token at once; it prints one JSON line with the distinct
//!   tokens they got, their errors and the manager's token requests so far. `LEASE_MS` sets
//!   the stores' lease length; `TOKEN_PORT` sends token requests to another port (a black
//!   hole, for a holder that never hears back). With `DPOP=1` it is `dpop-client` and binds
//!   tokens with DPoP proofs (the key comes from the store, like the tokens); with
//!   `RESOURCE_URL`, after the tasks it calls that URL once through the authorized client
//!   and adds the answer's status and body (`resource`) to its line.

use std::time::Duration;

use oauthgen_runtime::{AnyStore, FileStore, ManagerOptions, Provider as _, TokenManager, TokenStore as _};
use oauthgen_tests::TestOp;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("refresh-loop") if args.len() == 6 => refresh_loop(&args[2], &args[3], &args[4], &args[5]).await,
        Some("store-writer") if args.len() == 4 => store_writer(&args[2], &args[3]).await,
        Some("fleet") if args.len() == 6 => fleet(&args[2], &args[3], &args[4], &args[5]).await,
        _ => {
            eprintln!(
                "usage: helper refresh-loop PORT STORE KEY N | helper store-writer STORE KEY | helper fleet PORT STORE KEY TASKS"
            );
            std::process::ExitCode::from(2)
        }
    }
}

async fn refresh_loop(port: &str, store: &str, key: &str, rounds: &str) -> std::process::ExitCode {
    let rounds: u32 = rounds.parse().unwrap_or(0);
    let mut op = TestOp::new(port, "basic-client", "basic-secret");
    op.config_mut().set_timeout(Duration::from_secs(10));
    let manager = TokenManager::with_options(op, FileStore::new(store), key, ManagerOptions::default());
    for round in 0..rounds {
        let result = async {
            let token = manager.token().await?;
            manager.token_after_rejection(&token).await
        }
        .await;
        if let Err(e) = result {
            eprintln!("round {round}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("{} refresh requests", manager.token_requests());
    std::process::ExitCode::SUCCESS
}

async fn store_writer(store: &str, key: &str) -> std::process::ExitCode {
    let store = FileStore::new(store);
    let Ok(Some(mut credentials)) = store.load(key).await else {
        eprintln!("no credentials under {key}");
        return std::process::ExitCode::FAILURE;
    };
    let mut n: u64 = credentials.extra.get("n").and_then(serde_json::Value::as_u64).unwrap_or(0);
    loop {
        n += 1;
        credentials.extra.insert("n".into(), n.into());
        // A large value makes each write take long enough to be killed halfway.
        credentials.extra.insert("padding".into(), "x".repeat(64 * 1024).into());
        if let Err(e) = store.save(key, &credentials).await {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    }
}

async fn fleet(port: &str, address: &str, key: &str, tasks: &str) -> std::process::ExitCode {
    use tokio::io::AsyncBufReadExt as _;
    let tasks: usize = tasks.parse().unwrap_or(1);
    let mut store = match AnyStore::open(address).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(ms) = std::env::var("LEASE_MS").ok().and_then(|v| v.parse().ok()) {
        store = store.with_lease(Duration::from_millis(ms));
    }
    let token_port = std::env::var("TOKEN_PORT").unwrap_or_else(|_| port.to_owned());
    let dpop = std::env::var("DPOP").is_ok_and(|v| v == "1");
    let mut op = if dpop {
        TestOp::new(token_port, "dpop-client", "dpop-secret").with_dpop().expect("the test provider takes DPoP")
    } else {
        TestOp::new(token_port, "basic-client", "basic-secret")
    };
    op.config_mut().set_timeout(Duration::from_secs(60));
    let manager = TokenManager::with_options(op, store, key, ManagerOptions::default());
    let resource_url = std::env::var("RESOURCE_URL").ok();
    let http = oauthgen_runtime::authorized_client(manager.clone());
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() != "go" {
            continue;
        }
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let m = manager.clone();
                tokio::spawn(async move { m.token().await.map(|t| t.secret().to_owned()).map_err(|e| e.to_string()) })
            })
            .collect();
        let mut tokens = std::collections::BTreeSet::new();
        let mut errors = std::collections::BTreeSet::new();
        for h in handles {
            match h.await {
                Ok(Ok(token)) => tokens.insert(token),
                Ok(Err(e)) => errors.insert(e),
                Err(e) => errors.insert(e.to_string()),
            };
        }
        let mut resource = serde_json::Value::Null;
        if let Some(url) = &resource_url {
            resource = match http.get(url.as_str()).send().await {
                Ok(answer) => serde_json::json!({
                    "status": answer.status().as_u16(),
                    "body": answer.text().await.unwrap_or_default(),
                }),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            };
        }
        let line = serde_json::json!({
            "tokens": tokens,
            "errors": errors,
            "requests": manager.token_requests(),
            "resource": resource,
        });
        println!("{line}");
    }
    std::process::ExitCode::SUCCESS
}
