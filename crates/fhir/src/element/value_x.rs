//! The rules of a `value[x]` (an Observation's or a component's): a quantity in its canonical
//! unit and kept as a bound when it has a comparator, a concept's codes, a string that is a
//! gestational age read as one, and an `Observation.component` by the same rules.

use std::borrow::Cow;

use gravida_rules::facts::{self, Field, Problem, Value};

use super::codes::{problem, push_text, read_concept};
use super::dates::{Named, read_date_time};
use super::{Component, Text, ValueX, units, values};

/// A `value[x]`: `(prefix, field)` name the element (`value`, or `component[2].value`) and the
/// field its problems are about; a string's words go to `text`.
pub(super) fn read_value(
    value: ValueX<'_>,
    (prefix, field): (&str, Field),
    text: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    Some(match value {
        ValueX::Quantity(quantity) => {
            let Some(number) = quantity.value else {
                problem(problems, field, &format!("{prefix}Quantity has no value"));
                return None;
            };
            // `<5` or `>10000` is a bound, not a measurement: the number is kept with its
            // comparator, and the engine is told it is not exact (knowledge.md §3.5 item 5).
            if let Some(comparator) = &quantity.comparator {
                problem(
                    problems,
                    field,
                    &format!("{prefix}Quantity is a bound ({comparator}), not an exact value"),
                );
            }
            let (value, unit, code) = read_quantity_unit(
                number,
                quantity.comparator.is_some(),
                quantity.unit,
                quantity.code,
            )
            .unwrap_or_else(|(unit, code)| {
                problem(
                    problems,
                    field,
                    &format!("{prefix}Quantity has a unit that cannot be converted"),
                );
                (number, unit, code)
            });
            Value::Quantity {
                value,
                unit,
                code,
                comparator: quantity.comparator.map(|c| c.to_string()),
            }
        }
        ValueX::Concept(concept) => {
            let mut codes = Vec::new();
            let mut ignored = Vec::new();
            read_concept(&concept, &mut codes, &mut ignored);
            Value::Concept {
                codes,
                text: concept.text.map(Cow::into_owned),
            }
        }
        ValueX::String(string) => {
            push_text(text, Some(&string));
            // "10 weeks 2 days" is a gestational age: read as the quantity it is, in days (its
            // words stay searchable in `text`).
            match values::gestational_age_days(&string) {
                Some(days) => Value::Quantity {
                    value: days as f64,
                    unit: Some("d".to_owned()),
                    code: Some("d".to_owned()),
                    comparator: None,
                },
                None => Value::String(string.into_owned()),
            }
        }
        ValueX::Boolean(boolean) => Value::Boolean(boolean),
        ValueX::Integer(integer) => Value::Integer(i64::from(integer)),
        ValueX::DateTime(date_time) => Value::DateTime(read_date_time(
            &date_time,
            Named(prefix, "DateTime"),
            field,
            problems,
        )?),
        ValueX::Other(type_name) => Value::Other(type_name),
    })
}

/// A quantity in its canonical unit (knowledge.md §3.6 item 3; see [`units`]): the value scaled
/// and the UCUM code made canonical, the written `unit` kept when the number did not change. A
/// bound (`<0.005 IU/mL`) is shown as written and never compared, so it is kept as written. A
/// unit that cannot be converted gives back the unit and code as written (`Err`), for a problem.
#[allow(clippy::type_complexity)]
fn read_quantity_unit(
    value: f64,
    bound: bool,
    unit: Option<Text<'_>>,
    code: Option<Text<'_>>,
) -> Result<(f64, Option<String>, Option<String>), (Option<String>, Option<String>)> {
    let written = code
        .as_deref()
        .or(unit.as_deref())
        .map(str::trim)
        .filter(|written| !written.is_empty());
    let as_written = |unit: Option<Text<'_>>, code: Option<Text<'_>>| {
        (unit.map(Cow::into_owned), code.map(Cow::into_owned))
    };
    let Some(written) = written.filter(|_| !bound) else {
        let (unit, code) = as_written(unit, code);
        return Ok((value, unit, code));
    };
    match units::read(written) {
        units::Unit::Convertible { factor, canonical } => {
            let canonical_code = Some(canonical.to_owned());
            if factor == 1.0 {
                let unit = unit.map(Cow::into_owned);
                let code = if code.as_deref() == Some(canonical) {
                    code.map(Cow::into_owned)
                } else {
                    canonical_code
                };
                Ok((value, unit, code))
            } else {
                Ok((value * factor, Some(canonical.to_owned()), canonical_code))
            }
        }
        units::Unit::Known => {
            let (unit, code) = as_written(unit, code);
            Ok((value, unit, code))
        }
        units::Unit::Unknown => Err(as_written(unit, code)),
    }
}

/// An `Observation.component`: its code as codes and text, its value by the rules of
/// `Observation.value[x]` (a string's words go to the component's text). Problems are the
/// record's, about [`Field::Component`].
pub(super) fn read_component(
    component: Component<'_>,
    problems: &mut Vec<Problem>,
) -> facts::Component {
    let mut read = facts::Component {
        codes: Vec::new(),
        text: Vec::new(),
        value: None,
    };
    read_concept(&component.code, &mut read.codes, &mut read.text);
    if let Some(value) = component.value {
        read.value = read_value(
            value,
            ("component.value", Field::Component),
            &mut read.text,
            problems,
        );
    }
    read
}
