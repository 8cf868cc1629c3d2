//! What a failed cell is filed under: one of the exporter's categories, which metadata can
//! expect, or the environment's, which it never can.

use export_request::Category;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The category of a failed cell, written as its id (`torchscript`, `environment`) in every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureCategory {
    /// A category of the one list (`request/src/category.rs`): the model's or the engine's.
    Of(Category),
    /// The machine, not the model: no exporter, an unreadable cache, a missing file, a full
    /// disk, a browser that would not start. Never an expected outcome, never stored for reuse.
    Environment,
}

impl FailureCategory {
    /// The id of [`FailureCategory::Environment`].
    pub const ENVIRONMENT_ID: &'static str = "environment";

    /// The id every document writes.
    pub fn id(self) -> &'static str {
        match self {
            FailureCategory::Of(category) => category.id(),
            FailureCategory::Environment => Self::ENVIRONMENT_ID,
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Self> {
        if id == Self::ENVIRONMENT_ID {
            return Some(FailureCategory::Environment);
        }
        Category::from_id(id).map(FailureCategory::Of)
    }

    /// Whether this is `category`.
    pub fn is(self, category: Category) -> bool {
        self == FailureCategory::Of(category)
    }
}

impl From<Category> for FailureCategory {
    fn from(category: Category) -> Self {
        FailureCategory::Of(category)
    }
}

impl std::fmt::Display for FailureCategory {
    /// The id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for FailureCategory {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for FailureCategory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        FailureCategory::from_id(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown failure category `{}` (request/src/category.rs lists them, and `environment`)",
                id.escape_debug()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_and_the_environment_round_trip_through_their_ids() {
        let all = Category::ALL.into_iter().map(FailureCategory::Of).chain([FailureCategory::Environment]);
        for category in all {
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.id()));
            assert_eq!(serde_json::from_str::<FailureCategory>(&json).unwrap(), category);
        }
        let error = serde_json::from_str::<FailureCategory>("\"gremlins\"").unwrap_err().to_string();
        assert!(error.contains("unknown failure category `gremlins`"), "{error}");
        assert!(!Category::ALL.iter().any(|c| c.id() == FailureCategory::ENVIRONMENT_ID));
    }
}
