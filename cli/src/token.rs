//! `clerk-sync token`: a development session token, minted with the key
//! `clerk-sync dev` keeps in its folder.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{
    dev::key::{DevKey, DevKeyError},
    devdir,
};

/// Mint a development session token for the local stack
///
/// Signs a Clerk-shaped session token (RS256, v2 claims: sub, sid, iat, nbf,
/// exp, o: {id, rol}) with the key `clerk-sync dev` created under its folder
/// (target/clerk-sync-dev by default). Only a function whose CLERK_JWT_KEY is
/// that key's public half trusts it: clerk-sync dev, never a deployment.
/// The database still decides access: the user must be synced and an active
/// member of the organization.
///
/// CLERK_ISSUER and CLERK_AUTHORIZED_PARTIES, when set, give iss and azp
/// (the first party), as the functions check them.
///
/// Examples:
///   clerk-sync token --user user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs --org org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF --role org:admin
///   curl -H "Authorization: Bearer $(clerk-sync token --user user_2sC0uNn5XyZ1oQdV7eL9TrGaWfH)" \
///     http://127.0.0.1:3000/sync-status
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TokenArgs {
    /// The Clerk user id (sub), e.g. user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs.
    #[arg(long, value_name = "USER_ID")]
    pub user: String,
    /// The active organization's Clerk id, e.g. org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF.
    #[arg(long, value_name = "ORG_ID")]
    pub org: Option<String>,
    /// The role in the active organization, e.g. org:admin.
    #[arg(long, value_name = "ROLE", requires = "org", default_value = "org:member")]
    pub role: String,
    /// How long the token is valid: seconds, or with s, m, h or d, e.g. 30m.
    #[arg(long, value_name = "TTL", default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The folder of clerk-sync dev (its key is there) [default: target/clerk-sync-dev in the workspace].
    #[arg(long, env = "CLERK_SYNC_DEV_DIR", hide_env_values = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `90`, `90s`, `30m`, `1h`, `7d`.
fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("expected seconds, or a number with s, m, h or d (e.g. 30m)".into()),
    };
    let n: u64 = number.parse().map_err(|_| "expected seconds, or a number with s, m, h or d (e.g. 30m)")?;
    match n.checked_mul(multiplier) {
        Some(0) => Err("must be at least 1 second".into()),
        Some(secs) if secs <= 366 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err("at most 366 days".into()),
    }
}

/// `clerk-sync token`: the token on standard output (for `$(…)`), a note on
/// standard error.
pub fn run(args: TokenArgs) -> Result<(), DevKeyError> {
    let dir = devdir::dev_dir(args.data_dir.as_deref());
    let key = DevKey::load(&dir)?;
    let org = args.org.as_deref().map(|org| (org, args.role.as_str()));
    let token = key.mint(&args.user, org, args.ttl)?;
    println!("{token}");
    eprintln!(
        "note: valid for {} s; trusted only where CLERK_JWT_KEY is {} (clerk-sync dev)",
        args.ttl.as_secs(),
        devdir::display_path(&key.public_path)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_with_units() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "0", "1w", "h", "-5", "400d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
