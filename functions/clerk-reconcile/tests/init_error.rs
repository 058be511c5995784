//! A missing setting fails the cold start through the Runtime API
//! (`/runtime/init/error`), so the waiting invocation fails at once with
//! the message instead of hanging. The message names the setting, never a
//! secret.

use std::time::Duration;

use clerk_sync_tests::runtime_api::{assert_reports_init_error, start};

const BINARY: &str = env!("CARGO_BIN_EXE_clerk-reconcile");
/// The password of the database URL the function is given.
const PASSWORD: &str = "pw-never-shown-4c1d";
/// A secret key Clerk would never issue (it holds a space).
const BAD_KEY: &str = "sk_test_never shown 9f2e";

fn database_url() -> String {
    format!("postgres://app:{PASSWORD}@127.0.0.1:1/app")
}

#[test]
fn a_missing_secret_key_is_reported_to_the_runtime_api() {
    assert_reports_init_error(BINARY, &[("DATABASE_URL", &database_url())], "CLERK_SECRET_KEY");
}

#[test]
fn the_init_error_names_the_setting_never_a_secret() {
    for env in [
        vec![("DATABASE_URL", database_url())],
        vec![("DATABASE_URL", database_url()), ("CLERK_SECRET_KEY", BAD_KEY.to_string())],
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let start = start(BINARY, &env, Duration::from_secs(20));
        let report = start.init_error().unwrap_or_else(|| panic!("no POST to /runtime/init/error: {start:?}"));
        let body = String::from_utf8_lossy(&report.body);
        assert!(body.contains("CLERK_SECRET_KEY"), "the message names the setting: {body}");
        for text in [body.as_ref(), start.stderr.as_str()] {
            for secret in [PASSWORD, BAD_KEY, "never shown"] {
                assert!(!text.contains(secret), "{secret} shown in: {text}");
            }
        }
    }
}
