//! One test binary, so the whole run shares one throwaway PostgreSQL cluster.

mod intake;
mod migrations;
