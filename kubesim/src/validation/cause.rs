//! Builders of the field errors (`Cause`s) every check reports, and the port-number range
//! check they share.

use crate::status::Cause;
use serde_json::Value;

pub(super) fn invalid(field: &str, value: &str, msgs: Vec<String>, out: &mut Vec<Cause>) {
    for m in msgs {
        out.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{value}\": {m}"),
            field: field.into(),
        });
    }
}

pub(super) fn required(field: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    });
}

pub(super) fn duplicate(field: &str, value: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: \"{value}\""),
        field: field.into(),
    });
}

pub(super) fn not_found(field: &str, value: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueNotFound".into(),
        message: format!("Not found: \"{value}\""),
        field: field.into(),
    });
}

pub(super) fn port_number(field: &str, port: Option<&Value>, out: &mut Vec<Cause>) {
    let port = port.and_then(Value::as_i64).unwrap_or(0);
    if !(1..=65535).contains(&port) {
        invalid(
            field,
            &port.to_string(),
            vec!["must be between 1 and 65535, inclusive".into()],
            out,
        );
    }
}
