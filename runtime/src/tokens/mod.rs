//! Keeping tokens fresh: the single-flight token manager ([`manager`]) and the authorized
//! HTTP client that sends its tokens ([`authorized`]).

pub(crate) mod authorized;
pub(crate) mod manager;
