//! `login`, `token`, `revoke`, `client-credentials`, `service-account`: the classic
//! `tools.run(flow, storage)` as commands.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use oauthgen_codegen::Spec;
use oauthgen_runtime::{
    AnyStore, ClientKey, Credentials, Error, LoopbackOptions, Provider as _, RuntimeProvider, ServiceAccountKey,
    TokenManager, TokenStore as _,
};

/// Which provider, from which spec, with which variables.
#[derive(Debug, Args)]
pub(crate) struct ProviderArgs {
    /// The provider id (`google`, `github` ...).
    provider: String,
    /// Read the provider's spec from this file instead of the bundled specs.
    #[arg(long = "spec", value_name = "FILE", conflicts_with = "spec_dir")]
    spec: Option<PathBuf>,
    /// Read the provider's spec from `DIR/<provider>.yaml`.
    #[arg(long = "spec-dir", value_name = "DIR")]
    spec_dir: Option<PathBuf>,
    /// A value for a templated variable, `name=value` (e.g. `--var tenant=contoso`).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

/// Where credentials are kept.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// Where credentials are kept: a file path, `sqlite:PATH`, `postgres://...`,
    /// `postgresql://...`, `redis://...` or `rediss://...` [default:
    /// `$XDG_CONFIG_HOME/oauthgen/tokens.json`, mode 0600]
    #[arg(long, value_name = "STORE", env = "OAUTHGEN_STORE", hide_env_values = true)]
    store: Option<String>,
    /// The entry in the store, for several accounts at one provider [default: the provider id]
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
}

/// The client registered with the provider.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The client id.
    #[arg(long, env = "OAUTHGEN_CLIENT_ID", value_name = "ID")]
    client_id: String,
    /// The client secret (omit for public clients). Prefer the environment variable: flags
    /// show up in process lists.
    #[arg(long, env = "OAUTHGEN_CLIENT_SECRET", value_name = "SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    #[command(flatten)]
    key: ClientKeyArgs,
}

impl ClientArgs {
    /// The provider for this client, with its key and DPoP as asked, and no stored values.
    fn provider(&self, provider: &ProviderArgs, spec: &Spec, dpop: &DpopArgs) -> Result<RuntimeProvider, String> {
        let mut p = provider.provider(spec, self.client_id.clone(), self.client_secret.clone(), &BTreeMap::new());
        self.key.apply(&mut p)?;
        dpop.apply(&mut p)?;
        Ok(p)
    }
}

/// The client's private key, for `private_key_jwt`.
#[derive(Debug, Args)]
pub(crate) struct ClientKeyArgs {
    /// A private key (PEM: PKCS#8 or PKCS#1; or a JWK / JWK set file) to authenticate with
    /// `private_key_jwt` instead of a secret. `login` remembers its path for `token`.
    #[arg(long = "client-key", env = "OAUTHGEN_CLIENT_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// The key id (`kid`) of the client key, when its file names none.
    #[arg(long = "client-key-id", value_name = "KID", requires = "key")]
    key_id: Option<String>,
    /// The client key's X.509 certificate (PEM), for providers that name the key by its
    /// thumbprint (Microsoft Entra ID's certificate credentials), when the key file does not
    /// hold it too.
    #[arg(long = "client-cert", env = "OAUTHGEN_CLIENT_CERT", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// A file holding a client assertion another issuer writes (workload identity
    /// federation: Kubernetes' projected token, as in `AZURE_FEDERATED_TOKEN_FILE`), read for
    /// every request, instead of a key or a secret.
    #[arg(
        long = "client-assertion-file",
        env = "OAUTHGEN_CLIENT_ASSERTION_FILE",
        value_name = "FILE",
        conflicts_with = "key"
    )]
    assertion_file: Option<PathBuf>,
}

impl ClientKeyArgs {
    /// Give `provider` the key, when one was named.
    fn apply(&self, provider: &mut RuntimeProvider) -> Result<(), String> {
        if let Some(file) = &self.assertion_file {
            provider.config_mut().set_client_assertion_file(file.clone());
        }
        let Some(path) = &self.key else {
            // `OAUTHGEN_CLIENT_CERT` may be set for commands that use a secret.
            if let Some(cert) = &self.cert {
                eprintln!("note: the client certificate `{}` is unused without --client-key", cert.display());
            }
            return Ok(());
        };
        let key = ClientKey::from_file(path).map_err(|e| format!("the client key `{}`: {e}", path.display()))?;
        let key = match &self.key_id {
            Some(kid) => key.with_key_id(kid.clone()),
            None => key,
        };
        let key = match &self.cert {
            Some(cert) => {
                let pem = std::fs::read_to_string(cert)
                    .map_err(|e| format!("the client certificate `{}`: {e}", cert.display()))?;
                key.with_certificate(&pem).map_err(|e| format!("the client certificate `{}`: {e}", cert.display()))?
            }
            None => key,
        };
        provider.config_mut().set_client_key(key);
        Ok(())
    }

    /// What `login` stores to find the key again: its (and its certificate's) absolute path
    /// and key id.
    fn stored(&self) -> serde_json::Value {
        let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        serde_json::json!({
            "client_key": self.key.as_ref().map(absolute),
            "client_key_id": self.key_id,
            "client_cert": self.cert.as_ref().map(absolute),
            "client_assertion_file": self.assertion_file.as_ref().map(absolute),
        })
    }
}

/// DPoP (RFC 9449): bind the tokens to a key, and print proofs for them.
#[derive(Debug, Args)]
pub(crate) struct DpopArgs {
    /// Bind the tokens to a new DPoP key (RFC 9449), for a provider whose spec says `dpop:
    /// supported`. `login` stores the key with the tokens; `token` refreshes with it.
    #[arg(long)]
    dpop: bool,
    /// Also print, on a second line, a DPoP proof for one request with the token: its
    /// method and URL (`--dpop-proof GET https://api.example/me`). Send the token as
    /// `Authorization: DPoP <token>` and the proof as the `DPoP` header.
    #[arg(long, num_args = 2, value_names = ["METHOD", "URL"])]
    dpop_proof: Option<Vec<String>>,
}

impl DpopArgs {
    fn apply(&self, provider: &mut RuntimeProvider) -> Result<(), String> {
        if self.dpop || self.dpop_proof.is_some() {
            provider.config_mut().set_dpop(true).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Print `token` (and, when asked, a proof for one request with it); a DPoP-bound token
/// without a proof gets a hint on standard error.
fn print_token(
    token: &str,
    key: Option<&oauthgen_runtime::DpopKey>,
    proof_for: Option<&[String]>,
) -> Result<(), String> {
    println!("{token}");
    match (key, proof_for) {
        (Some(key), Some([method, url])) => {
            let url = oauthgen_runtime::Url::parse(url).map_err(|e| format!("--dpop-proof URL `{url}`: {e}"))?;
            let proof = key.proof(&method.to_ascii_uppercase(), &url, Some(token), None).map_err(|e| e.to_string())?;
            println!("{proof}");
        }
        (None, Some(_)) => return Err("the provider issued a bearer token: there is no DPoP key to prove".into()),
        (Some(_), None) => eprintln!(
            "note: a DPoP-bound token: send it as `Authorization: DPoP <token>` with a proof (`--dpop-proof METHOD URL`)"
        ),
        _ => {}
    }
    Ok(())
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// The key under which oauthgen keeps, inside the stored credentials, what it needs to renew
/// them: the client and the variables (the file is 0600, like oauth2client's).
const META: &str = "oauthgen";

fn default_store() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("neither XDG_CONFIG_HOME nor HOME is set: pass --store")?)
            .join(".config"),
    };
    let dir = base.join("oauthgen");
    private_dir(&dir)?;
    Ok(dir.join("tokens.json"))
}

/// Create `dir` (and its parents) readable by its owner only, or make an existing one so.
fn private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        // Created private from the start: no window in which the umask's mode applies.
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode =
            std::fs::metadata(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make `{}` private (mode 0700): {e}", dir.display()))?;
        }
    }
    Ok(())
}

impl StoreArgs {
    /// The store, the entry's key, and the store's address for messages (no password).
    fn open(&self, provider: &str, rt: &tokio::runtime::Runtime) -> Result<(AnyStore, String, String), String> {
        let address = match &self.store {
            Some(address) if !address.is_empty() => address.clone(),
            _ => default_store()?.display().to_string(),
        };
        let shown = oauthgen_runtime::store::redact_address(&address);
        // The store's errors name it (without a password).
        let store = rt.block_on(AnyStore::open(&address)).map_err(|e| format!("cannot open the store: {e}"))?;
        Ok((store, self.account.clone().unwrap_or_else(|| provider.to_owned()), shown))
    }
}

impl ProviderArgs {
    fn spec(&self) -> Result<Spec, String> {
        let id = &self.provider;
        let (path, text) = match (&self.spec, &self.spec_dir) {
            (Some(file), _) => (file.clone(), read(file)?),
            (None, Some(dir)) => {
                let file = dir.join(format!("{id}.yaml"));
                (file.clone(), read(&file)?)
            }
            (None, None) => {
                let text = oauthgen_providers::SPEC_SOURCES
                    .iter()
                    .find(|(bundled, _)| bundled == id)
                    .map(|(_, text)| (*text).to_owned())
                    .ok_or_else(|| {
                        format!("no bundled provider `{id}` (see `oauthgen providers`, or pass --spec FILE)")
                    })?;
                (PathBuf::from(format!("specs/{id}.yaml")), text)
            }
        };
        let spec = oauthgen_codegen::parse_str(&path, &text).map_err(|d| format!("invalid spec:\n{d}"))?;
        if &spec.id != id {
            return Err(format!("`{}` holds provider `{}`, not `{id}`", path.display(), spec.id));
        }
        Ok(spec)
    }

    fn provider(
        &self,
        spec: &Spec,
        client_id: String,
        client_secret: Option<String>,
        stored_vars: &BTreeMap<String, String>,
    ) -> RuntimeProvider {
        let mut provider =
            RuntimeProvider::new(oauthgen_codegen::ir::provider_spec(spec).leak(), client_id, client_secret);
        for (name, value) in stored_vars.iter().chain(self.vars.iter().map(|(k, v)| (k, v))) {
            provider.config_mut().set_variable(name, value.clone());
        }
        provider
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

fn need(spec: &Spec, present: bool, grant: &str) -> Result<(), String> {
    if present { Ok(()) } else { Err(format!("the `{}` spec declares no `{grant}` grant", spec.id)) }
}

fn scopes_of(spec: &Spec, names: &[String]) -> Vec<String> {
    // A declared scope name means its value; anything else is passed as written.
    names.iter().map(|n| spec.scopes.values.get(n).map_or_else(|| n.clone(), |v| v.value.clone())).collect()
}

/// `oauthgen login`.
#[derive(Debug, Args)]
pub(crate) struct Login {
    #[command(flatten)]
    provider: ProviderArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// A scope to request (a name from the spec or a raw scope); repeat for several
    /// [default: the spec's default scopes]
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The loopback port for the redirect [default: a free one]
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Do not open a browser: print the URL, then accept the redirected URL pasted back.
    #[arg(long, conflicts_with = "device")]
    no_browser: bool,
    /// Use the device flow (a code to enter on another device).
    #[arg(long)]
    device: bool,
    /// Seconds to wait for the sign-in.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Bind the tokens to a new DPoP key (RFC 9449), stored with them; for a provider whose
    /// spec says `dpop: supported`.
    #[arg(long)]
    dpop: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn login(args: &Login) -> Result<(), String> {
    let spec = args.provider.spec()?;
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.extend(args.provider.vars.iter().cloned());
    let mut provider = args.provider.provider(
        &spec,
        args.client.client_id.clone(),
        args.client.client_secret.clone(),
        &BTreeMap::new(),
    );
    args.client.key.apply(&mut provider)?;
    if args.dpop {
        provider.config_mut().set_dpop(true).map_err(|e| e.to_string())?;
    }
    let scopes = scopes_of(&spec, &args.scopes);
    let rt = runtime()?;
    // Opened first: a store that cannot be used is reported before the user signs in.
    let (store, key, shown) = args.store.open(&spec.id, &rt)?;
    let mut credentials = rt.block_on(async {
        if args.device {
            need(&spec, spec.grants.device_code.is_some(), "device_code")?;
            device_login(&provider, &scopes, args.timeout).await
        } else {
            need(&spec, spec.grants.authorization_code.is_some(), "authorization_code")?;
            let options = LoopbackOptions {
                port: args.port,
                timeout: Duration::from_secs(args.timeout),
                open_browser: !args.no_browser,
                ..LoopbackOptions::default()
            };
            if args.no_browser {
                pasted_login(&provider, &scopes, options).await
            } else {
                oauthgen_runtime::loopback_login(&provider, &scopes, options).await.map_err(|e| e.to_string())
            }
        }
    })?;
    let stored_key = args.client.key.stored();
    let meta = serde_json::json!({
        "client_id": args.client.client_id,
        "client_secret": args.client.client_secret,
        "client_key": stored_key["client_key"],
        "client_key_id": stored_key["client_key_id"],
        "client_cert": stored_key["client_cert"],
        "client_assertion_file": stored_key["client_assertion_file"],
        "variables": vars,
    });
    credentials.extra.insert(META.into(), meta);
    rt.block_on(store.save(&key, &credentials)).map_err(|e| e.to_string())?;
    eprintln!("Signed in to {}; credentials stored in {shown} as `{key}`", spec.name);
    if args.dpop && !credentials.is_dpop() {
        eprintln!("note: the provider ignored the DPoP proof and issued bearer tokens");
    }
    Ok(())
}

async fn pasted_login(
    provider: &RuntimeProvider,
    scopes: &[String],
    options: LoopbackOptions,
) -> Result<Credentials, String> {
    let login = oauthgen_runtime::LoopbackLogin::start(provider, scopes, options).await.map_err(|e| e.to_string())?;
    let pending = login.pending().clone();
    eprintln!(
        "Open this URL in a browser:\n\n    {}\n\nThen paste the address the browser was sent back to (it may fail to load):",
        login.url()
    );
    let pasted = async {
        use tokio::io::AsyncBufReadExt as _;
        let mut line = String::new();
        tokio::io::BufReader::new(tokio::io::stdin()).read_line(&mut line).await.map_err(|e| e.to_string())?;
        let callback = oauthgen_runtime::Callback::from_url(line.trim()).map_err(|e| e.to_string())?;
        oauthgen_runtime::exchange(provider, &pending, &callback).await.map_err(|e| e.to_string())
    };
    tokio::select! {
        done = login.finish() => done.map_err(|e| e.to_string()),
        done = pasted => done,
    }
}

async fn device_login(provider: &RuntimeProvider, scopes: &[String], timeout: u64) -> Result<Credentials, String> {
    let mut device = oauthgen_runtime::device_authorization(provider, scopes).await.map_err(|e| e.to_string())?;
    eprintln!("To sign in, visit {} and enter the code {}", device.verification_uri, device.user_code);
    if let Some(complete) = &device.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    let spinner = tokio::spawn(async {
        let terminal = std::io::stderr().is_terminal();
        let frames = ['|', '/', '-', '\\'];
        for i in 0.. {
            if terminal {
                eprint!("\r{} waiting for you to finish ...", frames[i % frames.len()]);
                let _ = std::io::stderr().flush();
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let result =
        tokio::time::timeout(Duration::from_secs(timeout), oauthgen_runtime::device_poll(provider, &mut device)).await;
    spinner.abort();
    if std::io::stderr().is_terminal() {
        eprintln!("\r                               \r");
    }
    match result {
        Ok(done) => done.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no sign-in within {timeout} s")),
    }
}

/// `oauthgen token`.
#[derive(Debug, Args)]
pub(crate) struct TokenCmd {
    #[command(flatten)]
    provider: ProviderArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// The client key to refresh with, when not the one `login` used.
    #[command(flatten)]
    key: ClientKeyArgs,
    /// Also print, on a second line, a DPoP proof for one request with a DPoP-bound token:
    /// its method and URL (`--dpop-proof GET https://api.example/me`).
    #[arg(long, num_args = 2, value_names = ["METHOD", "URL"])]
    dpop_proof: Option<Vec<String>>,
}

/// What `login` stored beside the tokens to renew them.
struct StoredClient {
    client_id: String,
    client_secret: Option<String>,
    key: ClientKeyArgs,
    variables: BTreeMap<String, String>,
}

fn stored_client(credentials: &Credentials) -> Result<StoredClient, String> {
    let meta = credentials.extra.get(META).ok_or("the stored credentials were not written by `oauthgen login`")?;
    let client_id = meta["client_id"].as_str().ok_or("the stored credentials name no client")?.to_owned();
    let secret = meta["client_secret"].as_str().map(str::to_owned);
    let key = ClientKeyArgs {
        key: meta["client_key"].as_str().map(PathBuf::from),
        key_id: meta["client_key_id"].as_str().map(str::to_owned),
        cert: meta["client_cert"].as_str().map(PathBuf::from),
        assertion_file: meta["client_assertion_file"].as_str().map(PathBuf::from),
    };
    let variables = meta["variables"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .unwrap_or_default();
    Ok(StoredClient { client_id, client_secret: secret, key, variables })
}

fn explain(e: &Error, provider: &str) -> String {
    match e {
        Error::NoCredentials(_) => format!("no credentials for `{provider}`: run `oauthgen login {provider}` first"),
        Error::InvalidCredentials(_) => {
            format!(
                "the credentials for `{provider}` were revoked or have expired: run `oauthgen login {provider}` again"
            )
        }
        Error::OAuth { error, .. } if error == "invalid_grant" => {
            format!("the provider refused the stored grant (invalid_grant): run `oauthgen login {provider}` again")
        }
        other => other.to_string(),
    }
}

/// The spec, store, entry and provider of what `login` stored.
fn stored_login(
    args: &TokenCmd,
    rt: &tokio::runtime::Runtime,
) -> Result<(Spec, AnyStore, String, String, RuntimeProvider), String> {
    let spec = args.provider.spec()?;
    let (store, key, shown) = args.store.open(&spec.id, rt)?;
    let stored = rt.block_on(store.load(&key)).map_err(|e| e.to_string())?;
    let Some(stored) = stored else { return Err(explain(&Error::NoCredentials(key), &spec.id)) };
    let client = stored_client(&stored)?;
    let mut provider = args.provider.provider(&spec, client.client_id, client.client_secret, &client.variables);
    // A key or assertion file given now wins over what `login` used.
    if args.key.key.is_some() || args.key.assertion_file.is_some() { &args.key } else { &client.key }
        .apply(&mut provider)?;
    Ok((spec, store, key, shown, provider))
}

pub(crate) fn token(args: &TokenCmd) -> Result<(), String> {
    let rt = runtime()?;
    let (spec, store, key, _, provider) = stored_login(args, &rt)?;
    let manager = TokenManager::new(provider, store, key);
    let token = rt.block_on(manager.token()).map_err(|e| explain(&e, &spec.id))?;
    print_token(token.secret(), token.dpop_key(), args.dpop_proof.as_deref())
}

/// `oauthgen whoami`: the claims of the stored ID token (validated when it was received), or
/// the provider's userinfo answer when there is none.
pub(crate) fn whoami(args: &TokenCmd) -> Result<(), String> {
    let rt = runtime()?;
    let (spec, store, key, _, provider) = stored_login(args, &rt)?;
    let stored = rt.block_on(store.load(&key)).map_err(|e| e.to_string())?;
    let Some(stored) = stored else { return Err(explain(&Error::NoCredentials(key), &spec.id)) };
    if let Some(claims) = stored.id_token_claims() {
        let json = serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())?;
        println!("{json}");
        return Ok(());
    }
    if spec.endpoints.userinfo.is_none() {
        return Err(format!(
            "the credentials of `{}` hold no ID token, and its spec declares no userinfo endpoint",
            spec.id
        ));
    }
    let manager = TokenManager::new(provider.clone(), store, key);
    let token = rt.block_on(manager.token()).map_err(|e| explain(&e, &spec.id))?;
    let answer = if token.dpop_key().is_some() {
        // A DPoP-bound token goes with a proof: through the authorized client.
        let url = oauthgen_runtime::userinfo_url(&provider).map_err(|e| e.to_string())?;
        let http = oauthgen_runtime::authorized_client(manager);
        rt.block_on(async {
            let response = http.get(url).send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            response.json::<serde_json::Value>().await.map_err(|e| e.to_string())
        })
    } else {
        rt.block_on(oauthgen_runtime::userinfo(&provider, token.secret())).map_err(|e| e.to_string())
    }
    .map_err(|e| format!("userinfo request to {} failed: {e}", spec.name))?;
    let json = serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

pub(crate) fn revoke(args: &TokenCmd) -> Result<(), String> {
    let rt = runtime()?;
    let (spec, store, key, shown, provider) = stored_login(args, &rt)?;
    if spec.endpoints.revocation.is_some() {
        let manager = TokenManager::new(provider, store.clone(), key.clone());
        rt.block_on(manager.revoke()).map_err(|e| explain(&e, &spec.id))?;
        eprintln!("Revoked at {} and removed `{key}` from {shown}", spec.name);
    } else {
        rt.block_on(store.delete(&key)).map_err(|e| e.to_string())?;
        eprintln!("{} has no revocation endpoint: removed `{key}` from {shown} only", spec.name);
    }
    Ok(())
}

/// `oauthgen client-credentials`.
#[derive(Debug, Args)]
pub(crate) struct ClientCredentialsCmd {
    #[command(flatten)]
    provider: ProviderArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// A scope to request; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    #[command(flatten)]
    dpop: DpopArgs,
}

pub(crate) fn client_credentials(args: &ClientCredentialsCmd) -> Result<(), String> {
    let spec = args.provider.spec()?;
    need(&spec, spec.grants.client_credentials.is_some(), "client_credentials")?;
    let provider = args.client.provider(&args.provider, &spec, &args.dpop)?;
    let scopes = scopes_of(&spec, &args.scopes);
    let credentials =
        runtime()?.block_on(oauthgen_runtime::client_credentials(&provider, &scopes)).map_err(|e| e.to_string())?;
    print_token(credentials.access_token.secret(), credentials.dpop_key.as_ref(), args.dpop.dpop_proof.as_deref())
}

/// `oauthgen exchange`: token exchange (RFC 8693).
#[derive(Debug, Args)]
pub(crate) struct ExchangeCmd {
    #[command(flatten)]
    provider: ProviderArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// The token to exchange; `-` reads it from standard input. Prefer the environment
    /// variable or `-`: flags show up in process lists.
    #[arg(long, env = "OAUTHGEN_SUBJECT_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    subject_token: String,
    /// Its type: `access_token`, `refresh_token`, `id_token`, `jwt`, `saml1`, `saml2`, or a
    /// full `urn:` token type.
    #[arg(long, value_name = "TYPE", default_value = "access_token")]
    subject_token_type: String,
    /// A token of the party acting for the subject (delegation).
    #[arg(
        long,
        env = "OAUTHGEN_ACTOR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        requires = "actor_token_type"
    )]
    actor_token: Option<String>,
    /// The actor token's type (as `--subject-token-type`).
    #[arg(long, value_name = "TYPE", requires = "actor_token")]
    actor_token_type: Option<String>,
    /// A resource (absolute URI) the new token is for; repeat for several.
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    /// A service the new token is for; repeat for several.
    #[arg(long = "audience", value_name = "NAME")]
    audiences: Vec<String>,
    /// A scope the new token should have; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The type of token wanted (as `--subject-token-type`).
    #[arg(long, value_name = "TYPE")]
    requested_token_type: Option<String>,
    #[command(flatten)]
    dpop: DpopArgs,
}

/// A token type given on the command line: a short name of RFC 8693 section 3, or a URI.
fn token_type(text: &str) -> Result<String, String> {
    use oauthgen_runtime::token_type as t;
    Ok(match text {
        "access_token" => t::ACCESS_TOKEN,
        "refresh_token" => t::REFRESH_TOKEN,
        "id_token" => t::ID_TOKEN,
        "jwt" => t::JWT,
        "saml1" => t::SAML1,
        "saml2" => t::SAML2,
        uri if uri.contains(':') => uri,
        other => {
            return Err(format!(
                "unknown token type `{other}`: access_token, refresh_token, id_token, jwt, saml1, saml2 or a URI"
            ));
        }
    }
    .to_owned())
}

pub(crate) fn exchange(args: &ExchangeCmd) -> Result<(), String> {
    let spec = args.provider.spec()?;
    need(&spec, spec.grants.token_exchange.is_some(), "token_exchange")?;
    let provider = args.client.provider(&args.provider, &spec, &args.dpop)?;
    let subject = if args.subject_token == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the subject token: {e}"))?;
        line.trim().to_owned()
    } else {
        args.subject_token.clone()
    };
    if subject.is_empty() {
        return Err("the subject token is empty".into());
    }
    let mut options = oauthgen_runtime::TokenExchangeOptions::new();
    if let (Some(token), Some(kind)) = (&args.actor_token, &args.actor_token_type) {
        options = options.actor(token.clone(), token_type(kind)?);
    }
    for r in &args.resources {
        options = options.resource(r.clone());
    }
    for a in &args.audiences {
        options = options.audience(a.clone());
    }
    for s in scopes_of(&spec, &args.scopes) {
        options = options.scope(s);
    }
    if let Some(t) = &args.requested_token_type {
        options = options.requested_token_type(token_type(t)?);
    }
    let subject_type = token_type(&args.subject_token_type)?;
    let credentials = runtime()?
        .block_on(oauthgen_runtime::token_exchange(&provider, &subject, &subject_type, &options))
        .map_err(|e| e.to_string())?;
    if let Some(issued) = credentials.issued_token_type() {
        eprintln!("issued token type: {issued}");
    }
    print_token(credentials.access_token.secret(), credentials.dpop_key.as_ref(), args.dpop.dpop_proof.as_deref())
}

/// `oauthgen service-account`.
#[derive(Debug, Args)]
pub(crate) struct ServiceAccountCmd {
    #[command(flatten)]
    provider: ProviderArgs,
    /// The key: a Google service-account JSON file, or a PEM private key (with --issuer).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The assertion's issuer for PEM keys (client id, consumer key ...).
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// The key id for the `kid` header of PEM keys.
    #[arg(long, value_name = "KID")]
    key_id: Option<String>,
    /// A scope to request; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The user to act for (domain-wide delegation, `sub`).
    #[arg(long, value_name = "USER")]
    subject: Option<String>,
}

pub(crate) fn service_account(args: &ServiceAccountCmd) -> Result<(), String> {
    let spec = args.provider.spec()?;
    need(&spec, spec.grants.jwt_bearer.is_some(), "jwt_bearer")?;
    let text = read(&args.key)?;
    let key = if text.trim_start().starts_with('{') {
        ServiceAccountKey::from_google_json(&text)
    } else {
        let issuer = args.issuer.as_deref().ok_or("a PEM key needs --issuer")?;
        ServiceAccountKey::from_pem(issuer, &text, args.key_id.clone())
    }
    .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let provider = args.provider.provider(&spec, key.issuer().to_owned(), None, &BTreeMap::new());
    let scopes = scopes_of(&spec, &args.scopes);
    let credentials = runtime()?
        .block_on(oauthgen_runtime::service_account_token(&provider, &key, &scopes, args.subject.as_deref()))
        .map_err(|e| e.to_string())?;
    println!("{}", credentials.access_token.secret());
    Ok(())
}
