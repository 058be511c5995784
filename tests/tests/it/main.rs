//! One test binary, so the whole run shares one throwaway PostgreSQL cluster.

mod concurrency;
mod convergence;
mod intake;
mod migrations;
mod sync;
