//! One test binary, so the whole run shares one throwaway PostgreSQL cluster.

mod auth;
mod backend_api;
mod burst;
mod concurrency;
mod convergence;
mod fan_out;
mod faults;
mod fetch_on_miss;
mod hostile;
mod intake;
mod least_privilege;
mod migrations;
mod pages;
mod prune;
mod reconcile;
mod replay;
mod seconds;
mod secrets;
mod seller_accounts;
mod seller_accounts_api;
mod sync;
mod sync_status;
mod tls;
mod vault;
