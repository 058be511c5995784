//! What the commands say about the event families, read from the one table
//! that declares them ([`clerk_sync::clerk::FAMILIES`]): no type prefix or
//! family count is spelled here or elsewhere in the CLI.

use clerk_sync::clerk::FAMILIES;

/// `user.*, organization.*, organizationMembership.*, …`: each family's
/// event types, by their prefix, in the table's order.
pub fn type_prefixes() -> String {
    let mut prefixes: Vec<String> = Vec::new();
    for spec in FAMILIES {
        for event_type in spec.types {
            let prefix = format!("{}.*", event_type.split('.').next().unwrap_or(event_type));
            if !prefixes.contains(&prefix) {
                prefixes.push(prefix);
            }
        }
    }
    prefixes.join(", ")
}

/// How many families there are, in words (`three`) while that reads well.
pub fn count_in_words() -> String {
    const WORDS: [&str; 11] = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    WORDS.get(FAMILIES.len()).map_or_else(|| FAMILIES.len().to_string(), |w| (*w).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_under_a_listed_prefix() {
        let listed = type_prefixes();
        let prefixes: Vec<&str> = listed.split(", ").map(|p| p.trim_end_matches('*')).collect();
        // A family may span several prefixes (roles: `role.*` and `permission.*`).
        assert!(prefixes.len() >= FAMILIES.len(), "at least one prefix per family: {listed}");
        for spec in FAMILIES {
            for event_type in spec.types {
                assert!(prefixes.iter().any(|p| event_type.starts_with(p)), "{event_type} in {listed}");
            }
        }
        assert!(!count_in_words().is_empty());
    }
}
