//! What is Google's: Application Default Credentials ([`adc`]) and the credential files of
//! oauth2client and gcloud ([`interop`]). Google service-account key files are read by
//! [`crate::ServiceAccountKey`].

pub mod adc;
pub mod interop;
