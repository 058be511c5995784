//! One test binary, so the whole run shares one throwaway PostgreSQL cluster.

mod auth;
mod concurrency;
mod convergence;
mod intake;
mod migrations;
mod seller_accounts;
mod seller_accounts_api;
mod sync;
mod sync_status;
mod vault;
