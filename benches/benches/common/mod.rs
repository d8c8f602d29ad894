//! The peer, yup-oauth2 12.1, set up the same way in every benchmark: an `Authenticator` for
//! the loopback token endpoint whose storage holds one token, `at-0`.

use time::OffsetDateTime;
use yup_oauth2::storage::{TokenInfo, TokenStorage, TokenStorageError};

/// yup-oauth2's custom storage, pre-filled: its fastest cached path.
struct YupStorage(tokio::sync::Mutex<TokenInfo>);

#[async_trait::async_trait]
impl TokenStorage for YupStorage {
    async fn set(&self, _scopes: &[&str], token: TokenInfo) -> Result<(), TokenStorageError> {
        *self.0.lock().await = token;
        Ok(())
    }

    async fn get(&self, _scopes: &[&str]) -> Option<TokenInfo> {
        Some(self.0.lock().await.clone())
    }
}

/// yup-oauth2's authenticator.
pub(crate) type Yup = yup_oauth2::authenticator::DefaultAuthenticator;

/// An authenticator for the token endpoint on `port` whose storage holds `at-0` (refresh token
/// `rt-0`), expiring `expires_in` seconds from now.
pub(crate) async fn yup(port: u16, expires_in: i64) -> Yup {
    let secret = yup_oauth2::ApplicationSecret {
        client_id: "id".into(),
        client_secret: "secret".into(),
        token_uri: format!("http://127.0.0.1:{port}/token"),
        auth_uri: format!("http://127.0.0.1:{port}/authorize"),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        ..Default::default()
    };
    let token = TokenInfo {
        access_token: Some("at-0".into()),
        refresh_token: Some("rt-0".into()),
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::seconds(expires_in)),
        id_token: None,
    };
    yup_oauth2::InstalledFlowAuthenticator::builder(secret, yup_oauth2::InstalledFlowReturnMethod::Interactive)
        .with_storage(Box::new(YupStorage(tokio::sync::Mutex::new(token))))
        .build()
        .await
        .expect("yup authenticator")
}
