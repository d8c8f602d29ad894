//! Entry points for the fuzz targets (`fuzz/` in the repository): each parser of untrusted
//! bytes, called the way the runtime calls it, without a network or a file. Not a public API.

use std::path::Path;

use crate::adc::{AdcError, GoogleCredentials};
use crate::error::{Endpoint, Error};
use crate::grants::flow::{TokenResp, credentials_from};
use crate::spec::ProviderSpec;
use crate::store::StoreError;
use crate::wire::http::read_answer;
use crate::{Credentials, DeviceAuthorization, TokenInfo};

/// An answer of `endpoint` (HTTP `status`, below 500) read as the runtime reads it: the
/// refusals of every endpoint, then the spec's clean-up, `oauth2`'s parse and the credentials
/// for endpoints that issue tokens.
///
/// # Errors
///
/// A refusal, or a body the spec cannot read.
pub fn token_response(
    spec: &ProviderSpec,
    endpoint: Endpoint,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Credentials, Error> {
    let response = answer(spec, endpoint, status, content_type, body)?;
    let token: TokenResp = serde_json::from_slice(response.body())
        .map_err(|e| Error::MalformedResponse { status, reason: format!("invalid token response: {e}") })?;
    Ok(credentials_from(&token, &[]))
}

/// A device authorization endpoint's answer.
///
/// # Errors
///
/// A refusal, or a body that is not a device authorization.
pub fn device_authorization(
    spec: &ProviderSpec,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DeviceAuthorization, Error> {
    let response = answer(spec, Endpoint::DeviceAuthorization, status, content_type, body)?;
    crate::grants::device::read_device_authorization(spec, status, response.body(), Vec::new())
}

/// An introspection endpoint's answer.
///
/// # Errors
///
/// A refusal, or a body that is not an introspection response.
pub fn introspection(
    spec: &ProviderSpec,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenInfo, Error> {
    let response = answer(spec, Endpoint::Introspection, status, content_type, body)?;
    crate::grants::flow::read_introspection(status, response.body())
}

fn answer(
    spec: &ProviderSpec,
    endpoint: Endpoint,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<oauth2::HttpResponse, Error> {
    let status = oauth2::http::StatusCode::from_u16(status)
        .map_err(|e| Error::MalformedResponse { status, reason: e.to_string() })?;
    read_answer(spec, endpoint, status, content_type, body.to_vec()).map_err(|e| e.into_error(endpoint))
}

/// A request to the loopback listener, arriving in `reads`: the path and query of its
/// target once its head is complete, `None` when it is too large or never ends.
pub fn loopback_request<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> Option<(String, String)> {
    use crate::grants::installed::{Head, request_target, scan_head};
    let mut buf = Vec::new();
    for read in reads {
        match scan_head(&mut buf, read) {
            Some(Head::Complete(head)) => return Some(request_target(&head)),
            Some(Head::TooLarge | Head::Closed) => return None,
            None => {}
        }
    }
    None
}

/// A credentials file (`GOOGLE_APPLICATION_CREDENTIALS`: a service-account key or
/// `authorized_user`).
///
/// # Errors
///
/// A file that is not one of them.
pub fn credentials_file(text: &str) -> Result<GoogleCredentials, AdcError> {
    crate::google::adc::parse_credentials("fuzz.json".to_owned(), text)
}

/// A [`crate::FileStore`] file: the number of credentials it holds.
///
/// # Errors
///
/// A file that is not a store.
pub fn store_file(bytes: &[u8]) -> Result<usize, StoreError> {
    crate::store::file::parse(Path::new("fuzz.json"), bytes).map(|map| map.len())
}
