//! Clerk-shaped deliveries for the benchmarks: the committed sample payloads
//! (`events/payloads/`, real sizes: 0.4–3.3 KB) with fresh ids and clocks,
//! signed with the test secret.
//!
//! Each family's stream follows a fixed mix per ten events: three creates,
//! six updates (round-robin over live objects, always newer) and one delete
//! (the oldest live object). Every event is meant to be `processed`.

use std::collections::VecDeque;

use clerk_sync::{
    clerk::{FamilySpec, FAMILIES},
    Family,
};
use clerk_sync_tests::{now, signed_headers, TEST_SECRET};
use serde_json::{json, Value};

/// A webhook function's family (`clerk_sync::Family` less `All`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Users,
    Organizations,
    Memberships,
}

impl Stream {
    /// Parents first: memberships then land on existing users and organizations.
    pub const ALL: [Stream; 3] = [Stream::Users, Stream::Organizations, Stream::Memberships];

    pub fn family(self) -> Family {
        match self {
            Stream::Users => Family::Users,
            Stream::Organizations => Family::Organizations,
            Stream::Memberships => Family::Memberships,
        }
    }

    /// Its row in the family table.
    pub fn spec(self) -> &'static FamilySpec {
        // Each stream is one of the table's families (a unit test checks).
        FAMILIES.iter().find(|spec| spec.family == self.family()).unwrap_or(&FAMILIES[0])
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The stream of the webhook function `function`.
    pub fn of_function(function: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|stream| stream.spec().function == function)
    }

    /// The family's sample payload for `action` (`created`, `updated`,
    /// `deleted`), from `events/payloads/`.
    fn template(self, action: &str) -> Value {
        let event_type = self.spec().types.iter().find(|t| t.rsplit('.').next() == Some(action));
        let sample = event_type.and_then(|t| SAMPLES.iter().find(|(stem, _)| stem == t));
        let (stem, text) = sample.unwrap_or_else(|| panic!("{}: no sample payload for {action}", self.name()));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{stem}: {e}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

const MIX: [Action; 10] = {
    use Action::*;
    [Create, Update, Create, Update, Update, Create, Update, Update, Delete, Update]
};

// The sample payloads, embedded at compile time so the CLI carries them.
include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// Clerk's clocks start here and move 1 s per event: every update is newer.
const BASE_MS: i64 = 1_780_000_000_000;

/// One signed delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_type: String,
    pub svix_id: String,
    pub body: String,
}

impl Delivery {
    /// The svix headers, signed now (so within the 5-minute tolerance).
    pub fn headers(&self) -> Vec<(String, String)> {
        signed_headers(TEST_SECRET, &self.svix_id, now(), &self.body)
    }

    /// The request the handler sees, as lambda_http hands it over.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let mut builder = http::Request::builder().method("POST").uri("/");
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        builder.body(self.body.clone().into_bytes()).expect("valid request parts")
    }

    /// The Lambda Function URL event carrying it (what the Runtime API
    /// hands a function).
    pub fn lambda_event(&self) -> String {
        clerk_sync_tests::function_url_event("POST", &self.body, &self.headers(), false)
    }

    /// `created`, `updated` or `deleted`.
    pub fn action(&self) -> &str {
        self.event_type.rsplit('.').next().unwrap_or_default()
    }
}

/// An endless stream of one family's deliveries. Streams made with the same
/// `tag` share ids: memberships name the users and organizations that the
/// users and organizations streams created (parents first, as in steady state).
pub struct EventStream {
    family: Stream,
    tag: String,
    seq: u64,
    created: u64,
    live: VecDeque<u64>,
    next_update: usize,
    templates: Templates,
}

struct Templates {
    created: Value,
    updated: Value,
    deleted: Value,
}

impl EventStream {
    pub fn new(family: Stream, tag: &str) -> Self {
        let templates = Templates {
            created: family.template("created"),
            updated: family.template("updated"),
            deleted: family.template("deleted"),
        };
        Self { family, tag: tag.to_string(), seq: 0, created: 0, live: VecDeque::new(), next_update: 0, templates }
    }

    /// The next delivery, with a distinct svix id.
    pub fn next_delivery(&mut self) -> Delivery {
        let seq = self.seq;
        self.seq += 1;
        let clock = BASE_MS + seq as i64 * 1000;
        let action = match MIX[(seq % 10) as usize] {
            // Nothing to update or delete yet.
            _ if self.live.is_empty() => Action::Create,
            action => action,
        };
        let (object, mut payload) = match action {
            Action::Create => {
                let n = self.created;
                self.created += 1;
                self.live.push_back(n);
                (n, self.templates.created.clone())
            }
            Action::Update => {
                self.next_update = (self.next_update + 1) % self.live.len();
                (self.live[self.next_update], self.templates.updated.clone())
            }
            Action::Delete => (self.live.pop_front().expect("not empty"), self.templates.deleted.clone()),
        };
        self.fill(&mut payload, action, object, clock, seq);
        let event_type = payload["type"].as_str().unwrap_or_default().to_string();
        Delivery {
            event_type,
            svix_id: format!("msg_bench_{}_{}_{seq}", self.family.name(), self.tag),
            body: payload.to_string(),
        }
    }

    fn fill(&self, payload: &mut Value, action: Action, n: u64, clock: i64, seq: u64) {
        let tag = &self.tag;
        let data = &mut payload["data"];
        match self.family {
            Stream::Users => {
                data["id"] = json!(user_id(tag, n));
                if action != Action::Delete {
                    data["first_name"] = json!(format!("Ada{seq}"));
                    // A user keeps its addresses; updates change the name (the usual edit).
                    if let Some(emails) = data["email_addresses"].as_array_mut() {
                        for (i, email) in emails.iter_mut().enumerate() {
                            email["email_address"] = json!(format!("u{tag}{n}.{i}@bench.example"));
                        }
                    }
                }
            }
            Stream::Organizations => {
                data["id"] = json!(org_id(tag, n));
                if action != Action::Delete {
                    data["name"] = json!(format!("Bench Org {n} rev {seq}"));
                    data["slug"] = json!(format!("bench-org-{tag}-{n}"));
                }
            }
            Stream::Memberships => {
                // Membership n: user n in organization n / 3 (about three members each).
                data["id"] = json!(format!("orgmem_{tag}{n}"));
                data["organization"]["id"] = json!(org_id(tag, n / 3));
                // The nested copy is no newer than the organization's own events.
                data["organization"]["updated_at"] = json!(BASE_MS);
                data["public_user_data"]["user_id"] = json!(user_id(tag, n));
                data["public_user_data"]["identifier"] = json!(format!("u{tag}{n}@bench.example"));
                data["role"] = json!(["org:admin", "org:member"][(seq % 2) as usize]);
            }
        }
        if action != Action::Delete || self.family == Stream::Memberships {
            payload["data"]["updated_at"] = json!(clock);
        }
        payload["timestamp"] = json!(clock + 7);
    }
}

pub fn user_id(tag: &str, n: u64) -> String {
    format!("user_{tag}{n}")
}

pub fn org_id(tag: &str, n: u64) -> String {
    format!("org_{tag}{n}")
}

/// A short random tag that keeps ids distinct between runs on one database.
pub fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_sync::clerk::{plan, Envelope, Plan};

    #[test]
    fn every_delivery_is_a_change_for_its_family() {
        let mut ids = std::collections::HashSet::new();
        for family in Stream::ALL {
            let mut stream = EventStream::new(family, "t1");
            let mut actions = std::collections::BTreeMap::new();
            for _ in 0..40 {
                let delivery = stream.next_delivery();
                assert!(ids.insert(delivery.svix_id.clone()), "svix ids are distinct across families");
                let envelope = Envelope::parse(delivery.body.as_bytes()).expect("parses");
                assert!(matches!(plan(family.family(), &envelope), Plan::Apply(_)), "{}", delivery.body);
                *actions.entry(delivery.action().to_string()).or_insert(0) += 1;
            }
            assert_eq!(actions["created"] + actions["updated"] + actions["deleted"], 40, "{actions:?}");
            assert_eq!(actions["deleted"], 4, "{actions:?}");
        }
    }
}
