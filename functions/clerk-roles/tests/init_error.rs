//! A missing setting fails the cold start through the Runtime API
//! (`/runtime/init/error`), so the waiting invocation fails at once with
//! the message instead of hanging.

#[test]
fn a_missing_setting_is_reported_to_the_runtime_api() {
    clerk_sync_tests::runtime_api::assert_reports_init_error(
        env!("CARGO_BIN_EXE_clerk-roles"),
        &[("DATABASE_URL", "postgres://app@127.0.0.1:1/app")],
        "CLERK_WEBHOOK_SECRET",
    );
}
