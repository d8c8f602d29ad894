//! Token exchange (RFC 8693) against the certified `oidc-provider`, with the grant handler
//! registered in `tests/oidc/server.mjs`: it accepts access tokens it issued as subject (and
//! actor) tokens, narrows scopes, sets the new token's audience, and records every request's
//! parameters (never the tokens) at `GET /test/exchanges`.

use oauthgen_runtime::{
    Callback, Credentials, Error, TokenExchangeOptions, authorize_url, exchange, introspect, token_exchange, token_type,
};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn log_in(op: &TestOp) -> Credentials {
    let auth = authorize_url(op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap()
}

async fn exchanges(server: &OidcServer) -> Vec<Value> {
    reqwest::get(server.url("/test/exchanges")).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_token_is_exchanged_for_one_for_another_audience_with_fewer_scopes() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let user = log_in(&op).await;

    let options = TokenExchangeOptions::new().audience("https://orders.example").scope("openid");
    let exchanged = token_exchange(&op, user.access_token.secret(), token_type::ACCESS_TOKEN, &options).await.unwrap();
    assert_eq!(exchanged.issued_token_type(), Some(token_type::ACCESS_TOKEN));
    assert_eq!(exchanged.token_type.to_ascii_lowercase(), "bearer");
    assert_eq!(exchanged.scopes, ["openid"]);
    assert_ne!(exchanged.access_token.secret(), user.access_token.secret());
    assert!(exchanged.expires_at.is_some() && exchanged.refresh_token.is_none());

    // The provider issued it for the user, to that audience.
    let info = introspect(&op, exchanged.access_token.secret(), Some("access_token")).await.unwrap();
    assert!(info.active);
    assert_eq!(info.sub.as_deref(), Some("user-1"));
    assert_eq!(info.extra.get("aud").and_then(Value::as_str), Some("https://orders.example"), "{info:?}");

    // What the provider received: the RFC's parameters, authenticated as basic-client.
    let seen = exchanges(&server).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["client_id"], "basic-client");
    assert_eq!(seen[0]["subject_token_type"], token_type::ACCESS_TOKEN);
    assert_eq!(seen[0]["audience"], "https://orders.example");
    assert_eq!(seen[0]["scope"], "openid");
    assert_eq!(seen[0]["has_actor_token"], false);
    assert_eq!(seen[0]["requested_token_type"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn delegation_with_an_actor_resources_and_a_requested_type() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "post-client", "post-secret");
    let user = log_in(&op).await;
    let actor = log_in(&op).await;
    let options = TokenExchangeOptions::new()
        .actor(actor.access_token.secret(), token_type::ACCESS_TOKEN)
        .resource("https://api.example/a")
        .resource("https://api.example/b")
        .requested_token_type(token_type::ACCESS_TOKEN);
    assert!(!format!("{options:?}").contains(actor.access_token.secret()), "Debug hides the actor token");
    let exchanged = token_exchange(&op, user.access_token.secret(), token_type::ACCESS_TOKEN, &options).await.unwrap();
    assert_eq!(exchanged.issued_token_type(), Some(token_type::ACCESS_TOKEN));
    let seen = exchanges(&server).await;
    assert_eq!(seen[0]["client_id"], "post-client");
    assert_eq!(seen[0]["has_actor_token"], true);
    assert_eq!(seen[0]["actor_token_type"], token_type::ACCESS_TOKEN);
    assert_eq!(seen[0]["resource"], serde_json::json!(["https://api.example/a", "https://api.example/b"]));
    assert_eq!(seen[0]["requested_token_type"], token_type::ACCESS_TOKEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_typed_errors() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let user = log_in(&op).await;
    let none = TokenExchangeOptions::new();
    let oauth_error = |r: Result<Credentials, Error>| match r {
        Err(Error::OAuth { error, .. }) => error,
        other => panic!("expected an OAuth error, got {other:?}"),
    };

    // A subject token the provider never issued.
    let r = token_exchange(&op, "not-a-token", token_type::ACCESS_TOKEN, &none).await;
    assert_eq!(oauth_error(r), "invalid_grant");
    // More scopes than the subject token has.
    let wider = TokenExchangeOptions::new().scope("openid").scope("profile");
    let r = token_exchange(&op, user.access_token.secret(), token_type::ACCESS_TOKEN, &wider).await;
    assert_eq!(oauth_error(r), "invalid_scope");
    // A subject token type the provider does not take.
    let r = token_exchange(&op, user.access_token.secret(), token_type::SAML2, &none).await;
    assert_eq!(oauth_error(r), "invalid_request");
    // A client not allowed the grant.
    let other = TestOp::new(server.port.to_string(), "par-client", "par-secret");
    let r = token_exchange(&other, user.access_token.secret(), token_type::ACCESS_TOKEN, &none).await;
    assert!(matches!(oauth_error(r).as_str(), "invalid_request" | "unauthorized_client"));
    // A wrong client secret.
    let wrong = TestOp::new(server.port.to_string(), "basic-client", "nope");
    let r = token_exchange(&wrong, user.access_token.secret(), token_type::ACCESS_TOKEN, &none).await;
    assert_eq!(oauth_error(r), "invalid_client");
    // Once the subject token is revoked, it cannot be exchanged.
    oauthgen_runtime::revoke(&op, &user).await.unwrap();
    let r = token_exchange(&op, user.access_token.secret(), token_type::ACCESS_TOKEN, &none).await;
    assert_eq!(oauth_error(r), "invalid_grant");
}
