//! Reading untrusted JSON bodies field by field, with errors that name fields but never values.
//!
//! Why not `#[derive(Deserialize)]`? serde's type errors quote the offending value
//! (`invalid type: string "Jane Doe", expected …`), and a request body is full of PHI. Here the
//! body is first parsed into a `serde_json::Value` (syntax errors carry only a line and column),
//! then each field is read with a helper that reports `context.patientId must be a string`.

use serde_json::{Map, Value};

use crate::error::RequestError;

/// Parses a body into a JSON object, mapping every failure to a PHI-free [`RequestError`].
///
/// serde_json refuses nesting deeper than 128 levels with an error (not a stack overflow), which
/// becomes [`RequestError::TooDeep`].
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        // serde_json has no error category for this; its message is fixed text.
        if error.to_string().starts_with("recursion limit exceeded") {
            RequestError::TooDeep
        } else {
            RequestError::MalformedJson {
                line: error.line(),
                column: error.column(),
            }
        }
    })?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(RequestError::NotAnObject),
    }
}

/// Moves the object `name` out of `fields`; `None` when it is absent, `null` or not an object.
///
/// For use once the field has been checked with [`Object::optional_object`]: moving it out is
/// free, where cloning a large object (a request's `prefetch`) costs as much as parsing it.
pub(crate) fn take_object(
    fields: &mut Map<String, Value>,
    name: &str,
) -> Option<Map<String, Value>> {
    match fields.remove(name) {
        Some(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// A JSON object being read, and where it sits in the body (for error messages).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'a> {
    path: &'a str,
    fields: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `path` is the object's location, e.g. `""` for the body, `"context"`, `"feedback[0]"`.
    pub(crate) fn new(path: &'a str, fields: &'a Map<String, Value>) -> Self {
        Object { path, fields }
    }

    /// Where this object sits in the body, e.g. `feedback[0].overrideReason`.
    pub(crate) fn path(&self) -> &'a str {
        self.path
    }

    /// The dotted path of a field of this object, e.g. `context.patientId`.
    pub(crate) fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A field's value; `null` counts as absent (the spec forbids `null` outside prefetch).
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.get(name).filter(|value| !value.is_null())
    }

    fn wrong_type(&self, name: &str, expected: &'static str) -> RequestError {
        RequestError::WrongType {
            field: self.path_of(name),
            expected,
        }
    }

    /// A REQUIRED, non-empty string.
    pub(crate) fn required_str(&self, name: &str) -> Result<&'a str, RequestError> {
        match self.optional_str_allow_empty(name)? {
            None => Err(RequestError::Missing {
                field: self.path_of(name),
            }),
            Some("") => Err(RequestError::Empty {
                field: self.path_of(name),
            }),
            Some(text) => Ok(text),
        }
    }

    /// An OPTIONAL string; absent and `""` both give `None`.
    pub(crate) fn optional_str(&self, name: &str) -> Result<Option<&'a str>, RequestError> {
        Ok(self
            .optional_str_allow_empty(name)?
            .filter(|text| !text.is_empty()))
    }

    fn optional_str_allow_empty(&self, name: &str) -> Result<Option<&'a str>, RequestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    /// A REQUIRED non-negative integer.
    pub(crate) fn required_u64(&self, name: &str) -> Result<u64, RequestError> {
        match self.get(name) {
            None => Err(RequestError::Missing {
                field: self.path_of(name),
            }),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| self.wrong_type(name, "a non-negative integer")),
        }
    }

    /// A REQUIRED JSON object.
    pub(crate) fn required_object(
        &self,
        name: &str,
    ) -> Result<&'a Map<String, Value>, RequestError> {
        self.optional_object(name)?
            .ok_or_else(|| RequestError::Missing {
                field: self.path_of(name),
            })
    }

    /// An OPTIONAL JSON object.
    pub(crate) fn optional_object(
        &self,
        name: &str,
    ) -> Result<Option<&'a Map<String, Value>>, RequestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(fields)),
            Some(_) => Err(self.wrong_type(name, "an object")),
        }
    }

    /// An OPTIONAL JSON array.
    pub(crate) fn optional_array(
        &self,
        name: &str,
    ) -> Result<Option<&'a Vec<Value>>, RequestError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.wrong_type(name, "an array")),
        }
    }
}
