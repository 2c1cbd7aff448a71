//! Compatibility levels and Avro compatibility checks (apache-avro's schema resolution rules).

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde::{Deserialize, Serialize};

/// Confluent's compatibility levels. BACKWARD is the default, as in Confluent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase())).ok()
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }
    fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }
    fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

/// Checks `candidate` against the live versions of a subject (oldest first) under `level`.
/// Returns the reasons it is incompatible, empty when it is compatible.
pub fn check(level: Level, candidate: &Schema, existing: &[Schema]) -> Vec<String> {
    let against: &[Schema] = if level.transitive() {
        existing
    } else {
        existing.last().map_or(&[], std::slice::from_ref)
    };
    let mut reasons = Vec::new();
    for old in against {
        if level.backward() {
            // New readers must read data written with the old schema.
            if let Err(e) = SchemaCompatibility::can_read(old, candidate) {
                reasons.push(format!(
                    "new schema cannot read data written by an earlier one: {e}"
                ));
            }
        }
        if level.forward() {
            // Old readers must read data written with the new schema.
            if let Err(e) = SchemaCompatibility::can_read(candidate, old) {
                reasons.push(format!(
                    "an earlier schema cannot read data written by the new one: {e}"
                ));
            }
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn adding_a_field_with_a_default_is_backward_and_forward_compatible() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let v2 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"long","default":0}"#);
        assert!(check(Level::Backward, &v2, std::slice::from_ref(&v1)).is_empty());
        assert!(check(Level::Full, &v2, std::slice::from_ref(&v1)).is_empty());
    }

    #[test]
    fn adding_a_field_without_default_breaks_backward_only() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let v2 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"long"}"#);
        assert!(!check(Level::Backward, &v2, std::slice::from_ref(&v1)).is_empty());
        assert!(check(Level::Forward, &v2, std::slice::from_ref(&v1)).is_empty());
        assert!(check(Level::None, &v2, std::slice::from_ref(&v1)).is_empty());
    }

    #[test]
    fn changing_a_type_is_refused_and_transitive_checks_every_version() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let v2 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"int","default":0}"#);
        let v3 = schema(r#"{"name":"a","type":"string"}"#);
        assert!(
            !check(
                Level::Backward,
                &schema(r#"{"name":"a","type":"long"}"#),
                std::slice::from_ref(&v1)
            )
            .is_empty()
        );
        // v3 drops b: fine against v2 for BACKWARD, and against v1 too.
        assert!(check(Level::BackwardTransitive, &v3, &[v1.clone(), v2.clone()]).is_empty());
        // FORWARD_TRANSITIVE: v2 readers need b's default — present — so fine as well.
        assert!(check(Level::ForwardTransitive, &v3, &[v1, v2]).is_empty());
    }

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(Level::parse("full_transitive"), Some(Level::FullTransitive));
        assert_eq!(Level::parse("SOMETIMES"), None);
    }
}
