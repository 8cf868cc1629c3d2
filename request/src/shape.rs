//! A shape entry, once for metadata, plans, requests and generated constants.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One entry of a shape: a named dimension, a fixed size, or any size (`_`, outputs only: the
/// reference decides). `S` holds a name: `String` in documents (metadata YAML, requests),
/// `&'static str` in the constants of generated modules.
///
/// In documents an entry is a dimension name (`batch`), a size (`32`) or `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DimRef<S = String> {
    /// A dimension declared under `dimensions`.
    Named(S),
    /// A fixed size.
    Fixed(u32),
    /// Any size.
    Any,
}

/// How documents write [`DimRef::Any`].
pub const ANY: &str = "_";

impl<S: AsRef<str>> DimRef<S> {
    /// The dimension's name, for a named entry.
    pub fn name(&self) -> Option<&str> {
        match self {
            DimRef::Named(name) => Some(name.as_ref()),
            _ => None,
        }
    }
}

impl<S: AsRef<str>> Serialize for DimRef<S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            DimRef::Named(name) => serializer.serialize_str(name.as_ref()),
            DimRef::Fixed(size) => serializer.serialize_u32(*size),
            DimRef::Any => serializer.serialize_str(ANY),
        }
    }
}

impl<'de> Deserialize<'de> for DimRef<String> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Fixed(u32),
            Named(String),
        }
        Ok(
            match Raw::deserialize(deserializer).map_err(|_| {
                serde::de::Error::custom("a shape entry is a dimension name, a size (a non-negative integer) or `_`")
            })? {
                Raw::Fixed(size) => DimRef::Fixed(size),
                Raw::Named(name) if name == ANY => DimRef::Any,
                Raw::Named(name) => DimRef::Named(name),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::DimRef;

    #[test]
    fn documents_write_a_name_a_size_or_an_underscore() {
        let shape: Vec<DimRef> = serde_json::from_str(r#"["batch", 32, "_"]"#).unwrap();
        assert_eq!(shape, vec![DimRef::Named("batch".into()), DimRef::Fixed(32), DimRef::Any]);
        assert_eq!(serde_json::to_string(&shape).unwrap(), r#"["batch",32,"_"]"#);
        let constant: [DimRef<&str>; 2] = [DimRef::Named("seq"), DimRef::Any];
        assert_eq!(serde_json::to_string(&constant).unwrap(), r#"["seq","_"]"#);
        assert!(serde_json::from_str::<DimRef>("-1").is_err());
    }
}
