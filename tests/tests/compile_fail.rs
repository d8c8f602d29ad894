//! Compile-fail tests: what the macro and the capability traits tell a user.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
