// Dailymotion's spec declares neither a `jwt_bearer` grant nor a revocation endpoint, so
// service-account and revocation code for it does not compile, and the compiler says why.
use oauthgen_providers::dailymotion::Dailymotion;
use oauthgen_runtime::{Credentials, ServiceAccount};

fn act_as_service_account<P: ServiceAccount>(_provider: &P) {}

async fn revoke_it(credentials: &Credentials) {
    let dailymotion = Dailymotion::new("id", "secret");
    let _ = oauthgen_runtime::revoke(&dailymotion, credentials).await;
}

fn main() {
    act_as_service_account(&Dailymotion::new("id", "secret"));
    let _ = revoke_it;
}
