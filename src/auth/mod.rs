//! The one auth core shared by the HTTP and WebSocket transports.
//!
//! - `region`: the signing region and where it came from ([`resolve_region`]);
//! - `clock`: the gateway's clock, learned from its `Date` headers;
//! - `mode`: the auth modes (SigV4, AMB billing token) and what authorising a request adds;
//! - `attempt`: sign, send, and after a recoverable 403 recover and sign once more: the 403
//!   policy, in one place for both transports;
//! - `config`: the builders' auth setters and the choice of mode;
//! - `provider`: third-party RPC provider auth (static headers, bearer, basic, none);
//! - `report`: [`SigningReport`], what the signer signed (for `amb doctor -v`).
//!
//! The SigV4 signing itself (the canonical request, the caches, the fallback to aws-sigv4) is
//! the crate-private `sigv4` module's.

mod attempt;
mod clock;
mod config;
mod mode;
pub(crate) mod provider;
mod region;
mod report;

pub(crate) use attempt::{sign_and_send, Attempt};
pub(crate) use config::{auth_accessors, auth_setters, AuthConfig};
pub(crate) use mode::{Auth, Authorization, ToSign};
pub use provider::{BearerToken, BoxError};
pub use region::{resolve_region, RegionSource};
pub use report::SigningReport;

/// The SigV4 service name of Amazon Managed Blockchain.
pub const AMB_SERVICE: &str = "managedblockchain";
