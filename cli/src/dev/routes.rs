//! The local server's routes: each family's webhook function as the family
//! table ([`FAMILIES`]) declares it, the development catch-all, the API
//! functions, and the `cargo lambda watch` mount points.

use clerk_sync::{clerk::FAMILIES, http::response::json, Family};
use http::{Response, StatusCode};

/// A function the local server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// A family's webhook function; for [`Family::All`], the local
    /// catch-all (`/webhooks/clerk`), which applies every family.
    Webhook(Family),
    SyncStatus,
    SellerAccounts,
}

/// The catch-all's name and route: development only, no deployed function.
const CATCH_ALL: (&str, &str) = ("clerk", "/webhooks/clerk");

impl Function {
    /// Every webhook family: the local catch-all (`/webhooks/clerk`).
    pub const ALL_WEBHOOKS: Function = Function::Webhook(Family::All);

    /// Every function, in the order they are listed: each family's (the
    /// table's order), the catch-all, then the API functions.
    pub fn all() -> Vec<Function> {
        FAMILIES
            .iter()
            .map(|spec| Function::Webhook(spec.family))
            .chain([Function::ALL_WEBHOOKS, Function::SyncStatus, Function::SellerAccounts])
            .collect()
    }

    /// The binary's name, as `cargo lambda watch` mounts it.
    pub fn name(self) -> &'static str {
        match self {
            Function::Webhook(family) => family.spec().map_or(CATCH_ALL.0, |spec| spec.function),
            Function::SyncStatus => "sync-status",
            Function::SellerAccounts => "seller-accounts",
        }
    }

    /// The path it is served under, as deployed.
    pub fn path(self) -> &'static str {
        match self {
            Function::Webhook(family) => family.spec().map_or(CATCH_ALL.1, |spec| spec.route),
            Function::SyncStatus => "/sync-status",
            Function::SellerAccounts => "/seller-accounts",
        }
    }

    pub fn methods(self) -> &'static str {
        match self {
            Function::SyncStatus => "GET",
            Function::SellerAccounts => "GET, POST, DELETE",
            Function::Webhook(_) => "POST",
        }
    }

    /// Whether `cargo lambda watch` would serve it (a workspace binary).
    pub fn is_binary(self) -> bool {
        self != Function::ALL_WEBHOOKS
    }

    /// The webhook function that applies `event_type`: its family's, as the
    /// table declares it; the catch-all for a type no family applies.
    pub fn for_event_type(event_type: &str) -> Function {
        Function::Webhook(Family::handling(event_type).unwrap_or(Family::All))
    }
}

/// Which function serves `path`, and the path its handler sees: unchanged
/// under the deployment's routes; below the mount point under
/// `/lambda-url/<function>/`, as at the root of a Function URL.
pub fn route(path: &str) -> Option<(Function, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["webhooks", name] => {
            Function::all().into_iter().find(|f| f.path() == format!("/webhooks/{name}")).map(|f| (f, path.to_string()))
        }
        ["lambda-url", name, rest @ ..] => Function::all()
            .into_iter()
            .find(|f| f.is_binary() && f.name() == *name)
            .map(|f| (f, format!("/{}", rest.join("/")))),
        ["sync-status", ..] => Some((Function::SyncStatus, path.to_string())),
        ["seller-accounts", ..] => Some((Function::SellerAccounts, path.to_string())),
        _ => None,
    }
}

/// `GET /`: every route, as JSON.
pub fn index() -> Response<String> {
    #[derive(serde::Serialize)]
    struct Route {
        function: &'static str,
        methods: &'static str,
        path: &'static str,
        lambda_url: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Index {
        routes: Vec<Route>,
    }
    let routes = Function::all()
        .into_iter()
        .map(|f| Route {
            function: f.name(),
            methods: f.methods(),
            path: f.path(),
            lambda_url: f.is_binary().then(|| format!("/lambda-url/{}/", f.name())),
        })
        .collect();
    json(StatusCode::OK, &Index { routes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: Function = Function::Webhook(Family::Users);
    const ORGANIZATIONS: Function = Function::Webhook(Family::Organizations);
    const MEMBERSHIPS: Function = Function::Webhook(Family::Memberships);
    const INVITATIONS: Function = Function::Webhook(Family::Invitations);
    const DOMAINS: Function = Function::Webhook(Family::Domains);
    const ROLES: Function = Function::Webhook(Family::Roles);

    #[test]
    fn routes_match_the_deployment_and_cargo_lambda_watch() {
        let cases: [(&str, Option<(Function, &str)>); 20] = [
            ("/webhooks/clerk-users", Some((USERS, "/webhooks/clerk-users"))),
            ("/webhooks/clerk-users/", Some((USERS, "/webhooks/clerk-users/"))),
            ("/webhooks/clerk-organizations", Some((ORGANIZATIONS, "/webhooks/clerk-organizations"))),
            ("/webhooks/clerk-memberships", Some((MEMBERSHIPS, "/webhooks/clerk-memberships"))),
            ("/webhooks/clerk-invitations", Some((INVITATIONS, "/webhooks/clerk-invitations"))),
            ("/webhooks/clerk-domains", Some((DOMAINS, "/webhooks/clerk-domains"))),
            ("/webhooks/clerk-roles", Some((ROLES, "/webhooks/clerk-roles"))),
            ("/webhooks/clerk", Some((Function::ALL_WEBHOOKS, "/webhooks/clerk"))),
            ("/lambda-url/clerk-users/", Some((USERS, "/"))),
            ("/lambda-url/clerk-memberships", Some((MEMBERSHIPS, "/"))),
            ("/lambda-url/clerk-roles/", Some((ROLES, "/"))),
            ("/lambda-url/seller-accounts/abc", Some((Function::SellerAccounts, "/abc"))),
            ("/lambda-url/sync-status/", Some((Function::SyncStatus, "/"))),
            ("/sync-status", Some((Function::SyncStatus, "/sync-status"))),
            ("/seller-accounts/6f1c/x", Some((Function::SellerAccounts, "/seller-accounts/6f1c/x"))),
            ("/lambda-url/clerk/", None),
            ("/webhooks/clerk-usersx", None),
            ("/webhooks/clerk-users/extra", None),
            ("/lambda-url/unknown/", None),
            ("/", None),
        ];
        for (path, expected) in cases {
            let routed = route(path);
            let routed = routed.as_ref().map(|(f, p)| (*f, p.as_str()));
            assert_eq!(routed, expected, "{path}");
        }
        for function in Function::all() {
            assert_eq!(route(function.path()).map(|(f, _)| f), Some(function), "{function:?}");
        }
    }

    #[test]
    fn events_go_to_the_function_of_their_family() {
        assert_eq!(Function::for_event_type("user.created"), USERS);
        assert_eq!(Function::for_event_type("organization.deleted"), ORGANIZATIONS);
        assert_eq!(Function::for_event_type("organizationMembership.updated"), MEMBERSHIPS);
        assert_eq!(Function::for_event_type("organizationInvitation.accepted"), INVITATIONS);
        assert_eq!(Function::for_event_type("organizationDomain.updated"), DOMAINS);
        assert_eq!(Function::for_event_type("role.deleted"), ROLES);
        assert_eq!(Function::for_event_type("permission.created"), ROLES);
        assert_eq!(Function::for_event_type("waitlistEntry.created"), Function::ALL_WEBHOOKS);
        assert_eq!(Function::for_event_type("session.created"), Function::ALL_WEBHOOKS);
    }

    /// Every row of the family table is served, under its route and its
    /// function's mount point, and receives its types.
    #[test]
    fn every_family_of_the_table_is_served() {
        for spec in FAMILIES {
            let function = Function::Webhook(spec.family);
            assert_eq!(route(spec.route).map(|(f, _)| f), Some(function), "{}", spec.name);
            let mount = format!("/lambda-url/{}/", spec.function);
            assert_eq!(route(&mount).map(|(f, _)| f), Some(function), "{mount}");
            for event_type in spec.types {
                assert_eq!(Function::for_event_type(event_type), function, "{event_type}");
            }
        }
        assert_eq!(Function::all().len(), FAMILIES.len() + 3);
    }
}
