// Misuse of the attribute itself.
#[oauthgen_runtime::oauth_provider(spec = "/etc/acme.yaml")]
pub struct Absolute;

#[oauthgen_runtime::oauth_provider(file = "specs/acme.yaml")]
pub struct UnknownArgument;

#[oauthgen_runtime::oauth_provider(spec = "../../../../specs/google.yaml")]
pub struct WithFields {
    field: u8,
}

fn main() {}
