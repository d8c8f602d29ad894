//! The device flow (RFC 8628) against a scripted endpoint: pending with 400 and with 403
//! (Auth0), `slow_down`, success, refusal and expiry.

mod support;

use std::time::Duration;

use oauthgen_runtime::{DevicePoll, Error, device_authorization, device_poll, device_poll_once};
use support::{MockServer, Reply, token_json};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/device.yaml")]
struct Device;

const CODES: &str = r#"{"device_code":"dc-1","user_code":"WDJB-MJHT","verification_url":"https://example.test/device","expires_in":30}"#;

#[tokio::test]
async fn pending_with_400_and_403_then_success() {
    let server = MockServer::scripted(vec![
        Reply::json(200, CODES),
        Reply::json(400, r#"{"error":"authorization_pending"}"#),
        Reply::json(403, r#"{"error":"authorization_pending"}"#),
        Reply::json(200, token_json("at-d", Some("rt-d"), 3600)),
    ])
    .await;
    let provider = Device::new(server.port.to_string(), "id", "secret");
    let mut device = device_authorization(&provider, &[] as &[&str]).await.unwrap();
    assert_eq!(device.user_code, "WDJB-MJHT");
    assert_eq!(device.verification_uri, "https://example.test/device", "Google's `verification_url` is accepted");
    assert_eq!(device.interval, Duration::from_secs(1), "the spec's default interval");
    assert!(!format!("{device:?}").contains("dc-1"));
    let credentials = device_poll(&provider, &mut device).await.unwrap();
    assert_eq!(credentials.access_token.secret(), "at-d");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[0].body.contains("scope=read") && requests[0].body.contains("client_id=id"));
    assert!(requests[3].body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"));
    assert!(requests[3].body.contains("device_code=dc-1"));
}

#[tokio::test]
async fn slow_down_grows_the_interval_and_refusals_are_errors() {
    let server = MockServer::scripted(vec![
        Reply::json(200, CODES),
        Reply::json(400, r#"{"error":"slow_down"}"#),
        Reply::json(400, r#"{"error":"access_denied","error_description":"no"}"#),
        Reply::json(400, r#"{"error":"expired_token"}"#),
    ])
    .await;
    let provider = Device::new(server.port.to_string(), "id", "secret");
    let mut device = device_authorization(&provider, &[] as &[&str]).await.unwrap();
    assert!(matches!(device_poll_once(&provider, &mut device).await.unwrap(), DevicePoll::SlowDown));
    assert_eq!(device.interval, Duration::from_secs(6));
    let err = device_poll_once(&provider, &mut device).await.unwrap_err();
    assert!(matches!(&err, Error::Authorization { error, .. } if error == "access_denied"), "{err:?}");
    let err = device_poll_once(&provider, &mut device).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "expired_token"), "{err:?}");
}

#[tokio::test]
async fn the_deadline_ends_polling() {
    let server = MockServer::scripted(vec![
        Reply::json(
            200,
            r#"{"device_code":"dc","user_code":"U","verification_uri":"https://x.test/d","expires_in":2,"interval":1}"#,
        ),
        Reply::json(400, r#"{"error":"authorization_pending"}"#),
    ])
    .await;
    let provider = Device::new(server.port.to_string(), "id", "secret");
    let mut device = device_authorization(&provider, &[] as &[&str]).await.unwrap();
    let err = device_poll(&provider, &mut device).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "expired_token"), "{err:?}");
}

/// An untrusted `interval` near `u64::MAX` is clamped, and `slow_down` on top of it does not
/// overflow.
#[tokio::test]
async fn huge_intervals_are_clamped() {
    let codes = r#"{"device_code":"dc-1","user_code":"U","verification_uri":"https://example.test/d","expires_in":30,"interval":18446744073709551615}"#;
    let server =
        MockServer::scripted(vec![Reply::json(200, codes), Reply::json(400, r#"{"error":"slow_down"}"#)]).await;
    let provider = Device::new(server.port.to_string(), "id", "secret");
    let mut device = device_authorization(&provider, &[] as &[&str]).await.unwrap();
    assert_eq!(device.interval, Duration::from_secs(300), "clamped to five minutes");
    device.interval = Duration::MAX;
    assert!(matches!(device_poll_once(&provider, &mut device).await.unwrap(), DevicePoll::SlowDown));
    assert_eq!(device.interval, Duration::from_secs(300), "slow_down stays within the clamp");
}
