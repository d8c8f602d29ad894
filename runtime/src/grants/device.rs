//! The device authorization grant (RFC 8628): for devices and terminals without a browser.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::Credentials;
use crate::error::{Endpoint, Error};
use crate::grants::flow::{granted, join_scopes, post_authenticated, post_authenticated_with};
use crate::provider::DeviceFlow;

/// The longest polling interval honoured, whatever the provider asks (`interval`, or
/// `slow_down` after `slow_down`): five minutes.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// The grant type of device-code token requests.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A started device authorization: show [`user_code`](Self::user_code) and
/// [`verification_uri`](Self::verification_uri) to the user, then [`device_poll`].
#[derive(Clone)]
pub struct DeviceAuthorization {
    device_code: String,
    /// The code the user types at the verification page.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The verification page with the code filled in, when the provider gives one.
    pub verification_uri_complete: Option<String>,
    /// How long the codes stay valid.
    pub expires_in: Duration,
    /// The polling interval the provider asked for (or the spec's default).
    pub interval: Duration,
    /// The scopes requested.
    pub scopes: Vec<String>,
    started: Instant,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Response {
    device_code: String,
    user_code: String,
    // Google says `verification_url`.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// Start a device authorization (RFC 8628 section 3.1). An empty `scopes` asks for the spec's
/// default scopes.
pub async fn device_authorization<P: DeviceFlow, S: AsRef<str>>(
    provider: &P,
    scopes: &[S],
) -> Result<DeviceAuthorization, Error> {
    let config = provider.config();
    let spec = config.spec();
    let scopes = join_scopes(config, scopes);
    let joined = scopes.join(&*spec.scope_separator);
    let mut params = Vec::new();
    if !scopes.is_empty() {
        params.push(("scope", joined.as_str()));
    }
    // A refusal (an OAuth error or not) is an error from `post_authenticated`.
    let response = post_authenticated(config, Endpoint::DeviceAuthorization, params).await?;
    read_device_authorization(spec, response.status().as_u16(), response.body(), scopes)
}

/// A device authorization response (a success) for `scopes`.
pub(crate) fn read_device_authorization(
    spec: &crate::spec::ProviderSpec,
    status: u16,
    body: &[u8],
    scopes: Vec<String>,
) -> Result<DeviceAuthorization, Error> {
    let r: Response = serde_json::from_slice(body).map_err(|e| Error::MalformedResponse {
        status,
        reason: format!("invalid device authorization response: {e}"),
    })?;
    let default_interval = spec.grants.device_code.map_or(5, |d| d.default_interval);
    Ok(DeviceAuthorization {
        device_code: r.device_code,
        user_code: r.user_code,
        verification_uri: r.verification_uri,
        verification_uri_complete: r.verification_uri_complete,
        expires_in: Duration::from_secs(r.expires_in),
        // A provider's interval is untrusted: at least 1 s, at most MAX_INTERVAL.
        interval: Duration::from_secs(r.interval.unwrap_or(default_interval.into()).clamp(1, MAX_INTERVAL.as_secs())),
        scopes,
        started: Instant::now(),
    })
}

/// One poll's outcome.
#[derive(Debug)]
pub enum DevicePoll {
    /// The user has not finished yet: poll again after the interval.
    Pending,
    /// Too fast: the interval grew by 5 seconds (RFC 8628 section 3.5).
    SlowDown,
    /// Authorized.
    Done(Box<Credentials>),
}

/// Ask the token endpoint once whether the user has finished (RFC 8628 section 3.4).
/// `authorization_pending` counts as pending whatever its HTTP status (Auth0 sends 403);
/// `slow_down` adds 5 s to `device.interval`; `expired_token` and `access_denied` are errors.
pub async fn device_poll_once<P: DeviceFlow>(
    provider: &P,
    device: &mut DeviceAuthorization,
) -> Result<DevicePoll, Error> {
    let config = provider.config();
    let extra = config
        .spec()
        .token_request
        .params
        .iter()
        .map(|(name, template)| Ok((&**name, config.render_value(template)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let mut params = vec![("grant_type", GRANT_TYPE), ("device_code", device.device_code.as_str())];
    params.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
    // With DPoP, each poll carries a proof; the tokens are bound to the key of the poll
    // that gets them.
    let dpop = config.grant_dpop_key()?;
    let token_url = config.endpoint(Endpoint::Token)?;
    let response = match post_authenticated_with(config, &token_url, Endpoint::Token, params, dpop.as_ref()).await {
        Ok(response) => response,
        Err(Error::OAuth { error, .. }) if error == "authorization_pending" => return Ok(DevicePoll::Pending),
        Err(Error::OAuth { error, .. }) if error == "slow_down" => {
            device.interval = (device.interval.saturating_add(Duration::from_secs(5))).min(MAX_INTERVAL);
            return Ok(DevicePoll::SlowDown);
        }
        Err(Error::OAuth { error, description, uri }) if error == "access_denied" => {
            return Err(Error::Authorization { error, description, uri });
        }
        Err(e) => return Err(e),
    };
    let credentials = granted(&response, &device.scopes, dpop, "token response")?;
    // An ID token (OpenID Connect over the device flow) is validated like on exchange,
    // without a nonce: the device flow sends none.
    if let (Some(id_token), true) = (&credentials.id_token, config.spec().oidc_issuer.is_some()) {
        crate::oidc::validate_id_token(config, id_token.secret(), None).await?;
    }
    Ok(DevicePoll::Done(Box::new(credentials)))
}

/// Poll until the user finishes, the codes expire (`Error::OAuth` with `expired_token`, also
/// when the deadline passes without an answer) or the user refuses.
pub async fn device_poll<P: DeviceFlow>(provider: &P, device: &mut DeviceAuthorization) -> Result<Credentials, Error> {
    loop {
        if device.started.elapsed() >= device.expires_in {
            return Err(Error::OAuth {
                error: "expired_token".into(),
                description: Some("the device code expired before the user finished".into()),
                uri: None,
            });
        }
        tokio::time::sleep(device.interval).await;
        match device_poll_once(provider, device).await {
            Ok(DevicePoll::Done(credentials)) => return Ok(*credentials),
            Ok(DevicePoll::Pending | DevicePoll::SlowDown) => {}
            // A transient failure is not the end: try again at the next interval.
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e),
        }
    }
}
