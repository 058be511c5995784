//! pgbench scripts made from the library's own statements
//! (`clerk_sync::sync::statements::all()`), never copied by hand: each `$N`
//! becomes an SQL expression over a random key `k` and a fresh svix id
//! `id`, drawn once per run in a CTE `p` put in front (the seed in
//! `bench/pgbench/seed.sql` has users `user_0`…`user_999` and organizations
//! `org_0`…`org_333`). `pgbench-scripts DIR` writes them, and for the
//! statements of a delivery the same wrapped in a PL/pgSQL function
//! (`routines.sql` creates them, `routine_<name>.sql` calls one), as the
//! event routines wrap them behind a pooler ([`clerk_sync::db::routines`]):
//! `-M extended` on a call against `-M prepared` on the statement is the
//! A/B of issue 16.

use clerk_sync::sync::statements;

/// The event row's parameters ($1–$8): a fresh svix id, so every run applies.
const EVENT: [&str; 8] = [
    "(SELECT id FROM p)",
    "'bench.event'",
    "'obj_' || (SELECT k FROM p)",
    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
    "'{\"type\":\"bench.event\"}'",
    "'processed'",
    "NULL::text",
    "'memberships'",
];

/// A clock that always moves forward, so every upsert is newer.
const CLOCK: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// The time now in milliseconds (an invitation's expiry).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// The effect's parameters ($9 on) of each statement.
fn effect(name: &str) -> Option<Vec<&'static str>> {
    let user = "'user_' || (SELECT k FROM p)";
    let org = "'org_' || ((SELECT k FROM p) / 3)";
    let role = "'role_' || ((SELECT k FROM p) / 100)";
    let permission = "'perm_' || ((SELECT k FROM p) / 10)";
    // pgbench reads `:name` as a variable even inside quotes: keys are built with chr(58).
    let role_key = "'org' || chr(58) || 'role_' || ((SELECT k FROM p) / 100)";
    let permission_key = "'org' || chr(58) || 'bench' || chr(58) || ((SELECT k FROM p) / 10)";
    Some(match name {
        "record_only" => vec![],
        "user_upsert" => vec![user, "'u@x.example'", "'F'", "'L'", "'https://img'", CLOCK],
        "organization_upsert" => vec![org, "'N'", "'slug'", "'https://img'", CLOCK],
        "user_delete" | "organization_delete" => vec![if name == "user_delete" { user } else { org }, CLOCK],
        "membership" => vec![
            user,
            "'F'",
            "'M'",
            "'https://img'",
            "'u@x.example'",
            org,
            "'N'",
            "'slug'",
            "'https://img'",
            "0::bigint",
            "'orgmem_' || (SELECT k FROM p)",
            // pgbench reads `:name` as a variable even inside quotes.
            "'org' || chr(58) || 'member'",
            CLOCK,
            "false",
        ],
        "invitation" => vec![
            "'orginv_' || (SELECT k FROM p)",
            org,
            "'N'",
            "'slug'",
            "'https://img'",
            "'u@x.example'",
            "'org' || chr(58) || 'member'",
            "'accepted'",
            NOW_MS,
            user,
            CLOCK,
        ],
        "domain_upsert" => vec![
            "'orgdmn_' || (SELECT k FROM p)",
            org,
            "'N'",
            "'slug'",
            "'https://img'",
            "'x.example'",
            "'automatic_invitation'",
            "'verified'",
            "'admin@x.example'",
            CLOCK,
        ],
        "domain_delete" => vec!["'orgdmn_' || (SELECT k FROM p)", CLOCK],
        "permission_upsert" => vec![permission, permission_key, "'N'", "'D'", "'custom'", CLOCK],
        "permission_delete" => vec![permission, CLOCK],
        "role_upsert" => vec![
            role,
            role_key,
            "'N'",
            "'D'",
            CLOCK,
            "ARRAY['perm_' || ((SELECT k FROM p) / 10)]",
            "ARRAY['org' || chr(58) || 'bench' || chr(58) || ((SELECT k FROM p) / 10)]",
            "ARRAY['N']",
            "ARRAY['D']",
            "ARRAY['custom']",
            "ARRAY[0::bigint]",
        ],
        "role_delete" => vec![role, CLOCK],
        _ => return None,
    })
}

/// The parameters of the statements that run after another in its
/// transaction, which take only ids.
fn follow_up(name: &str) -> Vec<&'static str> {
    match name {
        "role_permissions" => {
            vec!["'role_' || ((SELECT k FROM p) / 100)", "ARRAY['perm_' || ((SELECT k FROM p) / 10)]"]
        }
        // The statements that end memberships take only the object ids.
        _ if name.starts_with("user_") => vec!["'user_' || (SELECT k FROM p)"],
        _ => vec!["'org_' || ((SELECT k FROM p) / 3)"],
    }
}

/// `sql` with each `$N` replaced by `values[N - 1]`.
fn substitute(sql: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<usize>().ok().and_then(|n| values.get(n.wrapping_sub(1))) {
            Some(value) => out.push_str(&format!("({value})")),
            None => out.push_str(&rest[at..at + 1 + digits.len()]),
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// `sql` without its `--` comments (outside string literals).
fn without_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    for line in sql.lines() {
        let mut quoted = false;
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '-' if !quoted && line[i..].starts_with("--") => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let code = line[..end].trim_end();
        if !code.is_empty() {
            out.push_str(code);
            out.push('\n');
        }
    }
    out
}

/// Every script: the statements a delivery runs, by name.
pub fn scripts() -> Vec<(&'static str, String)> {
    statements::all()
        .into_iter()
        .map(|(name, sql)| {
            let values: Vec<&str> = match effect(name) {
                Some(effect) => EVENT.iter().copied().chain(effect).collect(),
                None => follow_up(name),
            };
            // pgbench numbers every `(SELECT k FROM p)` it sees, in comments too: leave them out.
            let body = substitute(&without_comments(sql), &values);
            // Drawn once, so the index on the events' svix id serves (a
            // volatile call in the WHERE clause would be evaluated per row).
            const DRAW: &str =
                "p AS MATERIALIZED (SELECT floor(random() * 1000)::int AS k, 'msg_' || gen_random_uuid() AS id)";
            let body = match body.strip_prefix("WITH").filter(|rest| rest.starts_with(char::is_whitespace)) {
                Some(rest) => format!("WITH {DRAW},{rest}"),
                None => format!("WITH {DRAW}\n{body}"),
            };
            (name, format!("-- {name}, made from clerk_sync::sync::statements (pgbench-scripts)\n{body};\n"))
        })
        .collect()
}

/// `routines.sql`, which creates a parameterless PL/pgSQL function around
/// each delivery script, and `routine_<name>.sql`, which calls it.
pub fn routine_scripts() -> Vec<(String, String)> {
    let mut setup = String::from("-- pgbench-scripts: each delivery statement wrapped as the event routines wrap it\n");
    let mut calls = Vec::new();
    for (name, script) in scripts() {
        if effect(name).is_none() {
            continue;
        }
        let body = script.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n");
        let body = body.trim_end().trim_end_matches(';');
        setup.push_str(&format!(
            "CREATE OR REPLACE FUNCTION bench_routine_{name}() RETURNS TABLE (recorded bigint, applied bigint) \
             LANGUAGE plpgsql AS $routine$\n#variable_conflict use_column\nBEGIN\nRETURN QUERY {body}\n;\nEND\n$routine$;\n"
        ));
        calls.push((format!("routine_{name}"), format!("SELECT * FROM bench_routine_{name}();\n")));
    }
    let mut all = vec![("routines".to_string(), setup)];
    all.extend(calls);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_of_every_statement_is_given() {
        let scripts = scripts();
        assert_eq!(scripts.len(), statements::all().len());
        for (name, script) in scripts {
            let body: String = script.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
            assert!(
                !body.chars().zip(body.chars().skip(1)).any(|(a, b)| a == '$' && b.is_ascii_digit()),
                "{name}: {script}"
            );
        }
        assert_eq!(substitute("a $1 b $10 c $2", &["x"; 10]), "a (x) b (x) c (x)");
        let routines = routine_scripts();
        let setup = &routines[0].1;
        for (name, call) in &routines[1..] {
            let function = format!("bench_{name}()");
            assert!(setup.contains(&format!("FUNCTION {function}")) && call.contains(&function), "{name}");
        }
        assert!(routines.iter().any(|(name, _)| name == "routine_membership"));
    }
}
