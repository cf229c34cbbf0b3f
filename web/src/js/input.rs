//! Every value that comes from JavaScript is checked here before any of it reaches the
//! engine.
//!
//! JavaScript can hand chronik anything: a cyclic object, an array nested a million
//! levels deep, a getter or a `Proxy` trap that throws, a number where a string belongs,
//! `NaN`, text with lone surrogates. Converting such a value naively (recursively, or
//! through calls that do not catch) overflows the wasm stack or unwinds through wasm
//! frames, and the module is dead for every database in the page. So the conversion
//! here never recurses (an explicit stack), catches every call that can throw, bounds
//! depth and size, and refuses what JSON cannot hold exactly, naming the argument and
//! the path inside it. What it accepts can be stored, read, exported and imported back.
//!
//! The rules for a JSON value: `null`, booleans, finite numbers, well-formed strings,
//! arrays and plain objects (prototype `Object.prototype` or `null`), at most
//! [`MAX_DEPTH`](chronik_core::MAX_DEPTH) levels deep and
//! [`MAX_VALUE_BYTES`](chronik_core::MAX_VALUE_BYTES) large. An object property whose
//! value is `undefined` is left out, as `JSON.stringify` does; anything else (`NaN`,
//! `Infinity`, `undefined` in an array, functions, symbols, bigints, `Date`s, `Map`s,
//! class instances, cycles) is refused.

use chronik_core::{limits, MAX_DEPTH, MAX_VALUE_BYTES};
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::js_error;

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray`, which throws for a revoked `Proxy`.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn is_array(value: &JsValue) -> Result<bool, JsValue>;
    /// `Object.keys`, which runs a `Proxy`'s `ownKeys` trap.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn object_keys(value: &JsValue) -> Result<js_sys::Array, JsValue>;
    /// `Reflect.getPrototypeOf`, which runs a `Proxy`'s `getPrototypeOf` trap.
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = getPrototypeOf)]
    fn prototype_of(value: &JsValue) -> Result<JsValue, JsValue>;
}

thread_local! {
    /// `Object.prototype`, the prototype of a plain object.
    static OBJECT_PROTOTYPE: JsValue = js_sys::Object::get_prototype_of(&js_sys::Object::new()).into();
    /// A function that ignores its argument: attached to refused promises so that their
    /// rejection is not reported as unhandled.
    static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

/// A `ChronikError` with code `InvalidInput` saying what is wrong with `what`.
pub fn invalid(what: &str, problem: impl std::fmt::Display) -> JsValue {
    js_error("InvalidInput", &format!("invalid input: {what} {problem}")).into()
}

/// The message of a thrown JS value (without `instanceof`, which a `Proxy` can make
/// throw).
pub fn describe_thrown(thrown: &JsValue) -> String {
    if let Some(s) = thrown.as_string() {
        return s;
    }
    if thrown.is_object() {
        if let Some(message) = js_sys::Reflect::get(thrown, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
        {
            return message;
        }
    }
    if thrown.is_undefined() {
        return "undefined".into();
    }
    "a value that is not an Error".into()
}

/// One container being converted, with what it has produced so far.
enum Frame {
    Array {
        source: JsValue,
        len: u32,
        next: u32,
        out: Vec<Value>,
    },
    Object {
        source: JsValue,
        keys: Vec<String>,
        next: usize,
        out: Map<String, Value>,
    },
}

/// One step of a path inside a value.
#[derive(Clone)]
enum Seg {
    Index(u32),
    Key(String),
}

/// An open container and where it goes in its parent (`None` for the root).
struct Open {
    frame: Frame,
    at: Option<Seg>,
}

impl Open {
    fn source(&self) -> &JsValue {
        match &self.frame {
            Frame::Array { source, .. } | Frame::Object { source, .. } => source,
        }
    }

    /// The next child to convert, or `None` when every child is done.
    fn next_child(&mut self) -> Option<(Seg, Result<JsValue, JsValue>)> {
        match &mut self.frame {
            Frame::Array {
                source, len, next, ..
            } => (*next < *len).then(|| {
                let i = *next;
                *next += 1;
                (
                    Seg::Index(i),
                    js_sys::Reflect::get(source, &JsValue::from(i)),
                )
            }),
            Frame::Object {
                source, keys, next, ..
            } => (*next < keys.len()).then(|| {
                let key = std::mem::take(&mut keys[*next]);
                *next += 1;
                let item = js_sys::Reflect::get(source, &JsValue::from_str(&key));
                (Seg::Key(key), item)
            }),
        }
    }

    fn push(&mut self, at: Seg, value: Value) {
        match (&mut self.frame, at) {
            (Frame::Array { out, .. }, _) => out.push(value),
            (Frame::Object { out, .. }, Seg::Key(k)) => {
                out.insert(k, value);
            }
            (Frame::Object { .. }, Seg::Index(_)) => {}
        }
    }

    fn finish(self) -> (Option<Seg>, Value) {
        let value = match self.frame {
            Frame::Array { out, .. } => Value::Array(out),
            Frame::Object { out, .. } => Value::Object(out),
        };
        (self.at, value)
    }
}

/// What one JS value turned out to be.
enum Step {
    Done(Value),
    /// An object property whose value is `undefined`: left out.
    Skip,
    Open(Frame),
}

/// Converts a JS value into JSON, checking it as the module docs say; `what` names it
/// in errors (`"events[0].data"`).
pub fn json(value: &JsValue, what: &str) -> Result<Value, JsValue> {
    walk(value, what, MAX_DEPTH)
}

/// [`json`] for a value that wraps JSON values `wrapper_levels` deep (an event object
/// around its data): the bound is [`MAX_DEPTH`] plus those levels. The engine checks the
/// wrapped values' own depth exactly.
pub fn json_within(value: &JsValue, what: &str, wrapper_levels: usize) -> Result<Value, JsValue> {
    walk(value, what, MAX_DEPTH + wrapper_levels)
}

fn walk(value: &JsValue, what: &str, max_depth: usize) -> Result<Value, JsValue> {
    let mut budget = MAX_VALUE_BYTES;
    let mut stack: Vec<Open> = Vec::new();
    match open(value, &stack, max_depth, &mut budget, false) {
        Err(problem) => return Err(invalid(what, problem)),
        Ok(Step::Done(v)) => return Ok(v),
        Ok(Step::Skip) => return Err(invalid(what, "is undefined; use null")),
        Ok(Step::Open(frame)) => stack.push(Open { frame, at: None }),
    }
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(Value::Null); // unreachable: the root's finish returns
        };
        match top.next_child() {
            Some((seg, item)) => {
                let step = item
                    .map_err(|e| format!("could not be read: {}", describe_thrown(&e)))
                    .and_then(|item| {
                        let in_object = matches!(seg, Seg::Key(_));
                        open(&item, &stack, max_depth, &mut budget, in_object)
                    });
                match step {
                    Err(problem) => return Err(invalid(&path(what, &stack, &seg), problem)),
                    Ok(Step::Skip) => {}
                    Ok(Step::Done(v)) => {
                        if let Some(top) = stack.last_mut() {
                            top.push(seg, v);
                        }
                    }
                    Ok(Step::Open(frame)) => stack.push(Open {
                        frame,
                        at: Some(seg),
                    }),
                }
            }
            None => {
                let Some(done) = stack.pop() else {
                    return Ok(Value::Null);
                };
                let (at, value) = done.finish();
                match (stack.last_mut(), at) {
                    (Some(parent), Some(at)) => parent.push(at, value),
                    _ => return Ok(value),
                }
            }
        }
    }
}

/// `what` followed by the path to `last` (`events[0].data.items[3]`).
fn path(what: &str, stack: &[Open], last: &Seg) -> String {
    let mut out = what.to_string();
    for seg in stack.iter().filter_map(|o| o.at.as_ref()).chain([last]) {
        match seg {
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            Seg::Key(k) if is_identifier(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Key(k) => {
                out.push('[');
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(']');
            }
        }
    }
    out
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn too_large() -> String {
    format!(
        "is too large: a value may hold at most {} MiB of JSON",
        MAX_VALUE_BYTES / (1024 * 1024)
    )
}

/// Charges `bytes` to the value's size budget.
fn charge(budget: &mut usize, bytes: usize) -> Result<(), String> {
    *budget = budget.checked_sub(bytes).ok_or_else(too_large)?;
    Ok(())
}

/// Converts a scalar, or opens a container frame for an array or plain object. `Err`
/// is the problem with the value, without its path.
fn open(
    value: &JsValue,
    stack: &[Open],
    max_depth: usize,
    budget: &mut usize,
    in_object: bool,
) -> Result<Step, String> {
    if value.is_null() {
        charge(budget, 4)?;
        return Ok(Step::Done(Value::Null));
    }
    if value.is_undefined() {
        if in_object {
            return Ok(Step::Skip);
        }
        return Err("is undefined; use null".into());
    }
    if let Some(b) = value.as_bool() {
        charge(budget, 5)?;
        return Ok(Step::Done(Value::Bool(b)));
    }
    if let Some(n) = value.as_f64() {
        charge(budget, 8)?;
        return number(n)
            .map(Step::Done)
            .ok_or_else(|| format!("is {}, which JSON cannot hold", display_number(n)));
    }
    if value.is_string() {
        let s = well_formed(value)?;
        charge(budget, s.len() + 2)?;
        return Ok(Step::Done(Value::String(s)));
    }
    if value.is_bigint() {
        return Err("is a BigInt, which JSON cannot hold; use a number or a string".into());
    }
    if value.is_symbol() {
        return Err("is a Symbol, which JSON cannot hold".into());
    }
    if value.is_function() {
        return Err("is a function, which JSON cannot hold".into());
    }
    // An object of some kind.
    if stack.len() >= max_depth {
        return Err(format!("nests deeper than {MAX_DEPTH} levels"));
    }
    if stack.iter().any(|o| o.source() == value) {
        return Err(
            "refers back to a value that contains it (a cycle), which JSON cannot hold".into(),
        );
    }
    let unreadable = |e: JsValue| format!("could not be read: {}", describe_thrown(&e));
    if is_array(value).map_err(unreadable)? {
        let len = js_sys::Reflect::get(value, &JsValue::from_str("length"))
            .map_err(unreadable)?
            .as_f64()
            .unwrap_or(0.0);
        // Every element costs at least a byte: refuse a huge (maybe sparse) array now
        // rather than walking it.
        if len > *budget as f64 {
            return Err(too_large());
        }
        charge(budget, 2)?;
        let len = len as u32;
        return Ok(Step::Open(Frame::Array {
            source: value.clone(),
            len,
            next: 0,
            out: Vec::with_capacity(len.min(1024) as usize),
        }));
    }
    let proto = prototype_of(value).map_err(unreadable)?;
    let plain = proto.is_null() || OBJECT_PROTOTYPE.with(|p| *p == proto);
    if !plain {
        return Err("is not a plain object or array (a Date, Map, Set, typed array or class instance?); convert it to plain JSON first".into());
    }
    let keys = object_keys(value).map_err(unreadable)?;
    charge(budget, 2)?;
    let mut names = Vec::with_capacity(keys.length() as usize);
    for key in keys.iter() {
        let name = well_formed(&key).map_err(|p| format!("has a key that {p}"))?;
        charge(budget, name.len() + 3)?;
        names.push(name);
    }
    Ok(Step::Open(Frame::Object {
        source: value.clone(),
        keys: names,
        next: 0,
        out: Map::new(),
    }))
}

/// A finite JS number as JSON: integers exactly (so `3` stays `3`, not `3.0`).
fn number(n: f64) -> Option<Value> {
    if !n.is_finite() {
        return None;
    }
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n.fract() == 0.0 && (-TWO_63..TWO_63).contains(&n) {
        return Some(Value::Number(Number::from(n as i64)));
    }
    Number::from_f64(n).map(Value::Number)
}

fn display_number(n: f64) -> &'static str {
    if n.is_nan() {
        "NaN"
    } else if n > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A JS string as Rust text, refusing lone surrogates (which would otherwise become
/// U+FFFD, so that two different strings would turn into the same one).
fn well_formed(value: &JsValue) -> Result<String, String> {
    let s = value.as_string().ok_or("must be a string")?;
    if s.contains('\u{FFFD}') {
        let js: &js_sys::JsString = value.unchecked_ref();
        if !js.is_valid_utf16() {
            return Err("contains a lone surrogate (text that is not valid Unicode)".into());
        }
    }
    Ok(s)
}

/// `value` as a `T`: checked as JSON, then decoded, errors naming the path inside it.
pub fn typed<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    decode(json(value, what)?, what)
}

/// A checked JSON value as a `T`, errors naming the path inside it.
pub fn decode<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, JsValue> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let at = e.path().to_string();
        if at == "." || at.is_empty() {
            invalid(what, format!("is not valid: {inner}"))
        } else {
            invalid(&format!("{what}.{at}"), format!("is not valid: {inner}"))
        }
    })
}

/// An optional options object: `undefined` or `null` give the defaults; anything but
/// a plain object is refused.
pub fn options<T: DeserializeOwned + Default>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    object(value, what)?;
    typed(value, what)
}

/// `value` if it is a non-null object (not a function), for reading fields from.
pub fn object(value: &JsValue, what: &str) -> Result<js_sys::Object, JsValue> {
    if !value.is_object() || value.is_function() {
        return Err(invalid(what, "must be an object"));
    }
    Ok(value.clone().unchecked_into())
}

/// Field `key` of `object`, catching a getter or `Proxy` trap that throws.
pub fn field(object: &JsValue, key: &str, what: &str) -> Result<JsValue, JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(key)).map_err(|e| {
        invalid(
            &format!("{what}.{key}"),
            format!("could not be read: {}", describe_thrown(&e)),
        )
    })
}

/// A well-formed string.
pub fn text(value: &JsValue, what: &str) -> Result<String, JsValue> {
    if !value.is_string() {
        return Err(invalid(
            what,
            format!("must be a string, not {}", kind(value)),
        ));
    }
    well_formed(value).map_err(|p| invalid(what, p))
}

/// A name or id: a well-formed, non-empty string of at most
/// [`MAX_NAME_BYTES`](chronik_core::MAX_NAME_BYTES).
pub fn name(value: &JsValue, what: &str) -> Result<String, JsValue> {
    let s = text(value, what)?;
    limits::check_name(what, &s)
        .map_err(|e| js_error("InvalidInput", &format!("invalid input: {e}")))?;
    Ok(s)
}

/// An exact integer in `min..=max`.
pub fn integer(value: &JsValue, what: &str, min: u64, max: u64) -> Result<u64, JsValue> {
    let Some(n) = value.as_f64() else {
        return Err(invalid(
            what,
            format!("must be a number, not {}", kind(value)),
        ));
    };
    if n.fract() != 0.0 || !n.is_finite() || n < min as f64 || n > max as f64 {
        return Err(invalid(
            what,
            format!(
                "must be a whole number from {min} to {max}, not {}",
                show(n)
            ),
        ));
    }
    Ok(n as u64)
}

fn show(n: f64) -> String {
    if n.is_finite() {
        n.to_string()
    } else {
        display_number(n).to_string()
    }
}

/// A function (checked with `typeof`, which never throws).
pub fn function(value: &JsValue, what: &str) -> Result<js_sys::Function, JsValue> {
    if !value.is_function() {
        return Err(invalid(
            what,
            format!("must be a function, not {}", kind(value)),
        ));
    }
    Ok(value.clone().unchecked_into())
}

/// Whether `value` is an array; a revoked `Proxy` is refused, naming `what`.
pub fn array(value: &JsValue, what: &str) -> Result<Option<js_sys::Array>, JsValue> {
    match is_array(value) {
        Ok(true) => Ok(Some(value.clone().unchecked_into())),
        Ok(false) => Ok(None),
        Err(e) => Err(invalid(
            what,
            format!("could not be read: {}", describe_thrown(&e)),
        )),
    }
}

/// A function, or `None` for `undefined` / `null`.
pub fn optional_function(value: &JsValue, what: &str) -> Result<Option<js_sys::Function>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    function(value, what).map(Some)
}

/// What kind of value `value` is, for error messages.
pub fn kind(value: &JsValue) -> &'static str {
    if value.is_undefined() {
        "undefined"
    } else if value.is_null() {
        "null"
    } else if value.as_bool().is_some() {
        "a boolean"
    } else if value.as_f64().is_some() {
        "a number"
    } else if value.is_string() {
        "a string"
    } else if value.is_symbol() {
        "a Symbol"
    } else if value.is_bigint() {
        "a BigInt"
    } else if value.is_function() {
        "a function"
    } else if is_array(value).unwrap_or(false) {
        "an array"
    } else {
        "an object"
    }
}

/// Refuses a promise (or other thenable) where a plain value is required, marking its
/// rejection handled so that it does not surface as an unhandled rejection.
pub fn refuse_promise(value: &JsValue, what: &str) -> Result<(), JsValue> {
    if !value.is_object() {
        return Ok(());
    }
    let then =
        js_sys::Reflect::get(value, &JsValue::from_str("then")).unwrap_or(JsValue::UNDEFINED);
    if !then.is_function() {
        return Ok(());
    }
    let then: &js_sys::Function = then.unchecked_ref();
    IGNORE.with(|ignore| {
        let _ = then.call2(value, &JsValue::UNDEFINED, ignore.as_ref());
    });
    Err(invalid(
        what,
        "is a Promise; this function must return its result synchronously",
    ))
}
