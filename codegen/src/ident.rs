//! Every identifier taken from a spec passes through here: keywords, leading digits and
//! separators are handled in one place, and nothing panics.

use proc_macro2::{Ident, Span};

/// `drive_readonly` / `drive-readonly` / `drive.readonly` -> `DriveReadonly`.
pub fn upper_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// `tenant-id` -> `tenant_id`.
pub fn snake(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

/// Why `name` cannot be used as a Rust identifier, if it cannot.
pub fn problem(name: &str) -> Option<&'static str> {
    match name.chars().next() {
        None => Some("it is empty"),
        Some(c) if c.is_ascii_digit() => Some("it starts with a digit"),
        Some(_) if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Some("it holds characters other than ASCII letters, digits and `_`")
        }
        Some(_) if matches!(name, "Self" | "self" | "super" | "crate" | "_") => Some("it is a reserved identifier"),
        Some(_) => None,
    }
}

/// An identifier for `name`, which must already have passed [`problem`]; keywords become raw
/// identifiers (`type` -> `r#type`).
pub fn ident(name: &str) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else if problem(name).is_none() {
        Ident::new_raw(name, Span::call_site())
    } else {
        // Unreachable for checked specs; fall back to a valid, obviously wrong name.
        Ident::new("__invalid_identifier", Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_and_snake() {
        assert_eq!(upper_camel("drive_readonly"), "DriveReadonly");
        assert_eq!(upper_camel("azure-ad-b2c"), "AzureAdB2c");
        assert_eq!(upper_camel("user.email"), "UserEmail");
        assert_eq!(snake("tenant-id"), "tenant_id");
    }

    #[test]
    fn keywords_become_raw() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("tenant").to_string(), "tenant");
        assert!(problem("Self").is_some());
        assert!(problem("1x").is_some());
        assert!(problem("a-b").is_some());
        assert!(problem("Good").is_none());
    }
}
