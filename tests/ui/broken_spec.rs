// A spec with mistakes: the macro reports each at `spec-path:line:col` with the offending
// line, and re-emits the struct so nothing else fails. (trybuild builds this file in
// `target/tests/trybuild/oauthgen-tests`, hence the path back to the workspace.)
#[oauthgen_runtime::oauth_provider(spec = "../../../../tests/fixtures/broken/unknown_key.yaml")]
pub struct Acme;

fn main() {
    let _still_defined = Acme;
}
