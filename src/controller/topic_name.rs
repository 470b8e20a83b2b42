//! Kafka's topic-name rules.

/// Kafka's maximum topic name length.
pub const MAX_NAME_LENGTH: usize = 249;

/// Checks a topic name the way Kafka does; the error is Kafka's message.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka treats `.` and `_` as colliding in metric names: `a.b` and `a_b` cannot coexist.
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// Internal topics are hidden from `listTopics` unless asked for.
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate("orders-v1.eu_west").is_ok());
        assert!(validate("").is_err());
        assert!(validate("..").is_err());
        assert!(validate("bad name").is_err());
        assert!(validate("bad/name").is_err());
        assert!(validate(&"x".repeat(250)).is_err());
        assert!(validate(&"x".repeat(249)).is_ok());
        assert_eq!(unify_collision_chars("a.b"), unify_collision_chars("a_b"));
    }
}
