//! One Svix message at several functions: Svix gives a message one svix-id
//! and delivers it, under that id, to every endpoint subscribed to its type
//! (an endpoint without a filter is subscribed to all). The family that
//! handles it applies it exactly once, whichever function saw it first.

use clerk_sync_tests::{
    clerk::{domain, invitation, permission_data, role, sample, Domain, Invitation},
    Answer, TestStack,
};
use serde_json::Value;

/// The deployed webhook functions (the first of [`TestStack::functions`];
/// the catch-all is the last).
const DEPLOYED: usize = 6;

/// The organization of the samples.
const ACME: &str = "org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF";

/// A sample of each handled family, and the index of its function in
/// [`TestStack::functions`].
fn handled() -> [(&'static str, Value, usize); DEPLOYED] {
    [
        ("user", sample("user.created.json"), 0),
        ("org", sample("organization.created.json"), 1),
        ("member", sample("organizationMembership.created.json"), 2),
        (
            "invitation",
            invitation(&Invitation {
                event_type: "organizationInvitation.created",
                id: "orginv_fan",
                org_id: ACME,
                org_name: Some("Acme"),
                email: "fan@example.com",
                role: "org:member",
                user_id: None,
                updated_ms: 100,
            }),
            3,
        ),
        (
            "domain",
            domain(&Domain {
                event_type: "organizationDomain.created",
                id: "orgdmn_fan",
                org_id: ACME,
                org_name: None,
                name: "fan.example",
                enrollment_mode: "manual_invitation",
                verification: None,
                updated_ms: 100,
            }),
            4,
        ),
        (
            "role",
            role(
                "role.created",
                "role_fan",
                "org:fan",
                "Fan",
                100,
                vec![permission_data("perm_fan", "org:fans:cheer", "Cheer", 100)],
            ),
            5,
        ),
    ]
}

/// Orders of the deployed functions: every rotation, forwards and
/// backwards, so that each function is first, and each message's own
/// function is at every position, in some order.
fn orders() -> Vec<Vec<usize>> {
    (0..DEPLOYED)
        .flat_map(|start| {
            let forwards: Vec<usize> = (0..DEPLOYED).map(|i| (start + i) % DEPLOYED).collect();
            let backwards = forwards.iter().rev().copied().collect();
            [forwards, backwards]
        })
        .collect()
}

fn status(answer: &Answer) -> &str {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["status"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn each_message_is_applied_once_by_its_family_whatever_function_sees_it_first() {
    for order in orders() {
        let stack = TestStack::spawn().await;
        let functions = stack.functions();
        for (name, payload, own) in handled() {
            let svix_id = format!("msg_{name}");
            for &f in &order {
                let expected = if f == own { "processed" } else { "ignored" };
                let answer = stack.deliver_to(functions[f], &svix_id, &payload).await;
                assert_eq!(status(&answer), expected, "{name} at function {f}, order {order:?}");
            }
            // Redelivery to each function is a duplicate there, and so is
            // the catch-all's, which applies under the same family.
            for (f, function) in functions.iter().enumerate() {
                let answer = stack.deliver_to(function, &svix_id, &payload).await;
                assert_eq!(status(&answer), "duplicate", "{name} again at function {f}, order {order:?}");
            }
        }
        assert_eq!(stack.db.count("users").await, 1);
        assert_eq!(stack.db.count("organization").await, 1);
        assert_eq!(stack.db.count("user_organizations").await, 1);
        for table in [
            "organization_invitations",
            "organization_domains",
            "organization_roles",
            "organization_permissions",
            "organization_role_permissions",
        ] {
            assert_eq!(stack.db.count(table).await, 1, "{table}, order {order:?}");
        }
        let applied = stack
            .db
            .rows("SELECT svix_id, family FROM clerk_webhook_events WHERE status = 'processed' ORDER BY 1")
            .await;
        assert_eq!(
            applied,
            serde_json::json!([
                {"svix_id": "msg_domain", "family": "domains"},
                {"svix_id": "msg_invitation", "family": "invitations"},
                {"svix_id": "msg_member", "family": "memberships"},
                {"svix_id": "msg_org", "family": "organizations"},
                {"svix_id": "msg_role", "family": "roles"},
                {"svix_id": "msg_user", "family": "users"},
            ])
            .as_array()
            .cloned()
            .unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn the_catch_all_and_the_family_function_apply_a_message_once() {
    let stack = TestStack::spawn().await;
    let payload = sample("organization.created.json");
    assert_eq!(status(&stack.deliver_to(&stack.catch_all, "msg_o", &payload).await), "processed");
    assert_eq!(status(&stack.deliver_to(&stack.organizations, "msg_o", &payload).await), "duplicate");
    assert_eq!(status(&stack.deliver_to(&stack.users, "msg_o", &payload).await), "ignored");
    assert_eq!(status(&stack.deliver_to(&stack.users, "msg_o", &payload).await), "duplicate");
}

/// The measured loss: messages sent at once to the deployed functions, each
/// answered 200, so Svix never retried the ones the wrong function claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_at_once_to_every_function_are_all_applied() {
    const MESSAGES: usize = 30;
    let stack = TestStack::spawn().await;
    let functions = stack.functions();
    let mut payloads = Vec::new();
    for i in 0..MESSAGES {
        for (name, mut payload, own) in handled() {
            // Distinct objects, so that each message has something to apply.
            let data = &mut payload["data"];
            match name {
                "user" => data["id"] = format!("user_fan{i}").into(),
                "org" => data["id"] = format!("org_fan{i}").into(),
                "invitation" => {
                    data["id"] = format!("orginv_fan{i}").into();
                    data["organization_id"] = format!("org_fan{i}").into();
                    data["public_organization_data"]["id"] = format!("org_fan{i}").into();
                }
                "domain" => {
                    data["id"] = format!("orgdmn_fan{i}").into();
                    data["organization_id"] = format!("org_fan{i}").into();
                }
                "role" => {
                    data["id"] = format!("role_fan{i}").into();
                    data["permissions"][0]["id"] = format!("perm_fan{i}").into();
                }
                _ => {
                    data["id"] = format!("orgmem_fan{i}").into();
                    data["public_user_data"]["user_id"] = format!("user_fan{i}").into();
                    data["organization"]["id"] = format!("org_fan{i}").into();
                }
            }
            payloads.push((format!("msg_{name}_{i}"), payload, own));
        }
    }
    let stack = &stack;
    let deliveries = payloads.iter().flat_map(|(svix_id, payload, own)| {
        functions.into_iter().enumerate().take(DEPLOYED).map(move |(f, state)| async move {
            let answer = stack.deliver_to(state, svix_id, payload).await;
            (f == *own, status(&answer).to_string())
        })
    });
    let answers = futures_util::future::join_all(deliveries).await;
    for (own, status) in &answers {
        // Stale only where a membership's nested organization or member
        // arrived after the organization's or user's own event: applied all
        // the same.
        let expected: &[&str] = if *own { &["processed", "stale"] } else { &["ignored"] };
        assert!(expected.contains(&status.as_str()), "own function: {own}, answered {status}");
    }
    assert_eq!(stack.db.count("organization").await, MESSAGES as i64);
    assert_eq!(stack.db.count("users").await, MESSAGES as i64);
    assert_eq!(stack.db.count("user_organizations").await, MESSAGES as i64);
    let named = stack.db.rows("SELECT 1 FROM organization WHERE name IS NOT NULL").await;
    assert_eq!(named.len(), MESSAGES, "every organization.created applied");
    let emails = stack.db.rows("SELECT 1 FROM users WHERE clerk_updated_ms IS NOT NULL").await;
    assert_eq!(emails.len(), MESSAGES, "every user.created applied");
    for table in ["organization_invitations", "organization_domains", "organization_roles", "organization_permissions"]
    {
        assert_eq!(stack.db.count(table).await, MESSAGES as i64, "{table}");
    }
    let listed = stack.db.rows("SELECT 1 FROM organization_role_permissions").await;
    assert_eq!(listed.len(), MESSAGES, "every role's permission set");
    assert_eq!(stack.db.count("clerk_webhook_events").await, (MESSAGES * DEPLOYED * DEPLOYED) as i64);
}
