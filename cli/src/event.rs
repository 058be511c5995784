//! The Lambda Function URL (payload format 2.0) request event, as AWS
//! delivers it and as `cargo lambda invoke --data-file` replays it.

use serde::{Serialize, Serializer};

/// A request event for a POST of `body` (text, not base64) to `path` with
/// `headers`, received at `timestamp` (Unix seconds). Serializes with its
/// fields, and the headers, in AWS's order.
pub fn function_url_event<'a>(
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
    timestamp: i64,
) -> FunctionUrlEvent<'a> {
    FunctionUrlEvent {
        version: "2.0",
        route_key: "$default",
        raw_path: path,
        raw_query_string: "",
        headers: Headers(headers),
        request_context: RequestContext {
            account_id: "anonymous",
            api_id: "clerksynclocal",
            domain_name: "clerksynclocal.lambda-url.us-east-1.on.aws",
            domain_prefix: "clerksynclocal",
            http: Http {
                method: "POST",
                path,
                protocol: "HTTP/1.1",
                source_ip: "127.0.0.1",
                user_agent: "Svix-Webhooks/1.0",
            },
            request_id: uuid::Uuid::new_v4().to_string(),
            route_key: "$default",
            stage: "$default",
            time: clf_time(timestamp),
            time_epoch: timestamp.saturating_mul(1000),
        },
        body,
        is_base64_encoded: false,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlEvent<'a> {
    version: &'static str,
    route_key: &'static str,
    raw_path: &'a str,
    raw_query_string: &'static str,
    headers: Headers<'a>,
    request_context: RequestContext<'a>,
    body: &'a str,
    is_base64_encoded: bool,
}

/// Header names and values, serialized as an object in the given order.
#[derive(Debug)]
struct Headers<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    account_id: &'static str,
    api_id: &'static str,
    domain_name: &'static str,
    domain_prefix: &'static str,
    http: Http<'a>,
    request_id: String,
    route_key: &'static str,
    stage: &'static str,
    time: String,
    time_epoch: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Http<'a> {
    method: &'static str,
    path: &'a str,
    protocol: &'static str,
    source_ip: &'static str,
    user_agent: &'static str,
}

/// `requestContext.time`: Common Log Format in UTC, e.g. `30/Nov/2026:12:00:00 +0000`.
fn clf_time(timestamp: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, secs) = (timestamp.div_euclid(86_400), timestamp.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let month_name = MONTHS.get(month.wrapping_sub(1) as usize).copied().unwrap_or("Jan");
    format!("{day:02}/{month_name}/{year}:{:02}:{:02}:{:02} +0000", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`): (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_request_time_like_aws() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf_time(1_614_265_330), "25/Feb/2021:15:02:10 +0000");
        assert_eq!(clf_time(1_795_003_199), "18/Nov/2026:11:59:59 +0000");
        assert_eq!(clf_time(4_102_444_800), "01/Jan/2100:00:00:00 +0000");
    }

    #[test]
    fn event_carries_path_headers_and_body_verbatim() {
        let body = "{\n  \"type\": \"user.created\"\n}\n";
        let headers = [("svix-id", "msg_1"), ("content-type", "application/json")];
        let text = match serde_json::to_string(&function_url_event("/webhooks", &headers, body, 1_614_265_330)) {
            Ok(text) => text,
            Err(e) => panic!("the event serializes: {e}"),
        };
        assert!(text.starts_with(r#"{"version":"2.0","routeKey":"$default","rawPath":"/webhooks","#), "{text}");
        assert!(text.contains(r#""headers":{"svix-id":"msg_1","content-type":"application/json"}"#), "{text}");
        let event: serde_json::Value = match serde_json::from_str(&text) {
            Ok(event) => event,
            Err(e) => panic!("the event is JSON: {e}"),
        };
        assert_eq!(event["rawPath"], "/webhooks");
        assert_eq!(event["requestContext"]["http"]["path"], "/webhooks");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["timeEpoch"], 1_614_265_330_000_i64);
        assert_eq!(event["headers"]["svix-id"], "msg_1");
        assert_eq!(event["body"], body);
        assert_eq!(event["isBase64Encoded"], false);
    }
}
