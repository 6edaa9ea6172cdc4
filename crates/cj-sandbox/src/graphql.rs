//! A GraphQL server built from an SDL file: async-graphql's dynamic schema does the parsing,
//! validation, variables, fragments, aliases and introspection; objects resolve from JSON.
//!
//! Within the sandbox's [`Limits`]: a request's variables are built only as far as they fit
//! the types the operation declares (so a body costs memory in proportion to its size),
//! documents are bounded in size, depth, complexity and directives, and an answer is
//! abandoned as soon as it grows past its limit.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, TypeRef,
};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Selection, SelectionSet, Type,
};
use async_graphql::{
    ErrorExtensions, Name, Number, Pos, QueryPathSegment, ServerError, ServerResult, Value,
    Variables,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use graphql_parser::schema as s;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::Limits;

/// A resolver for a root field.
pub(crate) type Resolver =
    Arc<dyn for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync>;

/// A custom scalar's input check.
pub(crate) type ScalarCheck = fn(&Value) -> bool;

/// A GraphQL API: its schema, what its variables may hold, and its limits.
pub(crate) struct Api {
    schema: Schema,
    inputs: Inputs,
    max_query_bytes: usize,
    max_complexity: usize,
    max_answer_bytes: usize,
}

/// Builds an API from SDL. Root fields listed in `resolvers` (by `Type.field`) run the given
/// resolver; every other field reads itself from its parent JSON object.
pub(crate) fn build(
    sdl: &str,
    resolvers: &HashMap<&'static str, Resolver>,
    scalars: &HashMap<&'static str, ScalarCheck>,
    limits: &Limits,
) -> Result<Api, String> {
    let doc = s::parse_schema::<String>(sdl).map_err(|e| e.to_string())?;
    let mut query = "Query".to_string();
    let mut mutation = None;
    // Every object type's fields and their types.
    let mut types = Types::new();
    for def in &doc.definitions {
        match def {
            s::Definition::SchemaDefinition(sd) => {
                if let Some(q) = &sd.query {
                    query = q.clone();
                }
                mutation = sd.mutation.clone();
            }
            s::Definition::TypeDefinition(t) => {
                let s::TypeDefinition::Object(o) = t else {
                    continue;
                };
                let fields = o
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), Shape::of(&f.field_type)))
                    .collect();
                types.insert(o.name.clone(), fields);
            }
            _ => {}
        }
    }
    let types = Arc::new(types);
    let mut inputs = Inputs::default();
    let mut builder = Schema::build(&query, mutation.as_deref(), None);
    for def in &doc.definitions {
        let s::Definition::TypeDefinition(t) = def else {
            continue;
        };
        match t {
            s::TypeDefinition::Object(o) => {
                let mut object = Object::new(&o.name);
                if let Some(d) = &o.description {
                    object = object.description(d);
                }
                for f in &o.fields {
                    let key = format!("{}.{}", o.name, f.name);
                    let resolver: Resolver = match resolvers.get(key.as_str()) {
                        Some(r) => r.clone(),
                        None => json_field(&f.name, &f.field_type, types.clone()),
                    };
                    let mut field =
                        Field::new(&f.name, type_ref(&f.field_type), move |ctx| resolver(ctx));
                    if let Some(d) = &f.description {
                        field = field.description(d);
                    }
                    for a in &f.arguments {
                        inputs.take_list(&a.value_type);
                        field = field.argument(input_value(a));
                    }
                    object = object.field(field);
                }
                builder = builder.register(object);
            }
            s::TypeDefinition::InputObject(io) => {
                let mut input = InputObject::new(&io.name);
                if let Some(d) = &io.description {
                    input = input.description(d);
                }
                for f in &io.fields {
                    inputs.take_list(&f.value_type);
                    input = input.field(input_value(f));
                }
                inputs
                    .objects
                    .insert(io.name.clone(), InputFields::of(&io.fields));
                builder = builder.register(input);
            }
            s::TypeDefinition::Enum(e) => {
                let mut en = Enum::new(&e.name);
                if let Some(d) = &e.description {
                    en = en.description(d);
                }
                for v in &e.values {
                    en = en.item(v.name.as_str());
                }
                inputs.leaves.insert(e.name.clone());
                inputs.enums.insert(
                    e.name.clone(),
                    e.values.iter().map(|v| v.name.clone()).collect(),
                );
                builder = builder.register(en);
            }
            s::TypeDefinition::Scalar(sc) => {
                let mut scalar = Scalar::new(&sc.name);
                if let Some(d) = &sc.description {
                    scalar = scalar.description(d);
                }
                if let Some(check) = scalars.get(sc.name.as_str()) {
                    scalar = scalar.validator(*check);
                    inputs.scalars.insert(sc.name.clone(), *check);
                }
                inputs.leaves.insert(sc.name.clone());
                builder = builder.register(scalar);
            }
            _ => return Err("interfaces and unions are not used by CJ's schemas".into()),
        }
    }
    let schema = builder
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_directives(limits.max_directives)
        .extension(AnswerSize)
        .finish()
        .map_err(|e| e.to_string())?;
    Ok(Api {
        schema,
        inputs,
        max_query_bytes: limits.max_query_bytes,
        max_complexity: limits.max_complexity,
        max_answer_bytes: limits.max_answer_bytes,
    })
}

impl Api {
    /// Keeps the list variables of these input object types as their bytes in the request
    /// body (see [`Stash`]): validated here item by item, never built into a tree.
    pub(crate) fn stashing(mut self, types: &[&str]) -> Self {
        self.inputs
            .stashed
            .extend(types.iter().map(|t| t.to_string()));
        self
    }
}

/// The object types of a schema: each one's fields and their types.
type Types = HashMap<String, HashMap<String, Shape>>;

fn type_ref(t: &s::Type<'_, String>) -> TypeRef {
    match t {
        s::Type::NamedType(n) => TypeRef::Named(n.clone().into()),
        s::Type::ListType(inner) => TypeRef::List(Box::new(type_ref(inner))),
        s::Type::NonNullType(inner) => TypeRef::NonNull(Box::new(type_ref(inner))),
    }
}

fn input_value(v: &s::InputValue<'_, String>) -> InputValue {
    let mut input = InputValue::new(&v.name, type_ref(&v.value_type));
    if let Some(d) = &v.description {
        input = input.description(d);
    }
    input
}

/// A resolver that reads field `name` of the parent JSON object.
fn json_field(name: &str, ty: &s::Type<'_, String>, types: Arc<Types>) -> Resolver {
    let name = name.to_string();
    let ty = Shape::of(ty);
    Arc::new(move |ctx: ResolverContext<'_>| {
        let parent = ctx.parent_value;
        if let Some(lazy) = parent.downcast_ref::<LazyObject>() {
            return FieldFuture::Value(match lazy.field(&name) {
                Some(LazyField::Echo(list)) => {
                    // Written with the answer (see `Echoes`): an empty list stands in for it.
                    if let Some(echoes) = ctx.data_opt::<Arc<Echoes>>() {
                        echoes.add(&ctx, ty.named(), list.clone(), &types);
                    }
                    Some(FieldValue::list(Vec::<FieldValue<'_>>::new()))
                }
                Some(LazyField::Text(text)) => {
                    let value = serde_json::from_str(text.get()).unwrap_or_default();
                    field_value(value, &ty, &types)
                }
                None => None,
            });
        }
        let value = parent
            .downcast_ref::<serde_json::Value>()
            .and_then(|p| p.get(&name))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        FieldFuture::Value(field_value(value, &ty, &types))
    })
}

/// An answer object whose fields stay JSON text until they are selected, or a list written
/// straight into the answer ([`LazyField::Echo`]).
pub(crate) struct LazyObject {
    fields: Vec<(String, LazyField)>,
}

/// A field of a [`LazyObject`].
pub(crate) enum LazyField {
    /// Any JSON value, as text.
    Text(Box<RawValue>),
    /// A list of objects made one at a time as the answer is written (see [`Echoes`]).
    Echo(Arc<dyn EchoList>),
}

/// A list of answer objects (the echo of a batch of orders) that makes each item when it is
/// written: a batch's answer then costs its text, never a tree of values per item.
pub(crate) trait EchoList: Send + Sync {
    /// How many items.
    fn len(&self) -> usize;
    /// Item `i`, as JSON (null when there is none).
    fn item(&self, i: usize) -> serde_json::Value;
}

impl LazyObject {
    /// An object of these fields.
    pub(crate) fn new(fields: Vec<(String, LazyField)>) -> Self {
        LazyObject { fields }
    }

    fn field(&self, name: &str) -> Option<&LazyField> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl LazyField {
    /// A JSON value as text.
    pub(crate) fn text(value: &serde_json::Value) -> Option<Self> {
        serde_json::value::to_raw_value(value)
            .ok()
            .map(LazyField::Text)
    }
}

/// A JSON value as the field value of a GraphQL type: objects stay JSON for their own fields
/// to read, lists recurse, leaves become GraphQL values.
fn field_value<'a>(value: serde_json::Value, ty: &Shape, types: &Types) -> Option<FieldValue<'a>> {
    if value.is_null() {
        return None;
    }
    match ty {
        Shape::NonNull(inner) => field_value(value, inner, types),
        Shape::List(inner) => {
            let items = match value {
                serde_json::Value::Array(items) => items,
                _ => return None,
            };
            Some(FieldValue::list(items.into_iter().map(|item| {
                field_value(item, inner, types).unwrap_or(FieldValue::NULL)
            })))
        }
        Shape::Named(n) if types.contains_key(n) => Some(FieldValue::owned_any(value)),
        Shape::Named(_) => Some(FieldValue::value(to_graphql(value))),
    }
}

/// A GraphQL type reference, owned.
#[derive(Debug, Clone)]
enum Shape {
    Named(String),
    List(Box<Shape>),
    NonNull(Box<Shape>),
}

impl Shape {
    fn of(t: &s::Type<'_, String>) -> Shape {
        match t {
            s::Type::NamedType(n) => Shape::Named(n.clone()),
            s::Type::ListType(inner) => Shape::List(Box::new(Shape::of(inner))),
            s::Type::NonNullType(inner) => Shape::NonNull(Box::new(Shape::of(inner))),
        }
    }

    /// The type of a variable, as its operation declares it.
    fn of_variable(t: &Type) -> Shape {
        let shape = match &t.base {
            BaseType::Named(n) => Shape::Named(n.to_string()),
            BaseType::List(inner) => Shape::List(Box::new(Shape::of_variable(inner))),
        };
        if t.nullable {
            shape
        } else {
            Shape::NonNull(Box::new(shape))
        }
    }

    /// The type without its outer `!`.
    fn nullable(&self) -> &Shape {
        match self {
            Shape::NonNull(inner) => inner.nullable(),
            other => other,
        }
    }

    /// The named type inside the lists and `!`s.
    fn named(&self) -> &str {
        match self {
            Shape::Named(n) => n,
            Shape::List(inner) | Shape::NonNull(inner) => inner.named(),
        }
    }

    /// The type without any `!`: what decides whether a variable fits a position.
    fn bare(&self) -> String {
        match self {
            Shape::Named(n) => n.clone(),
            Shape::List(inner) => format!("[{}]", inner.bare()),
            Shape::NonNull(inner) => inner.bare(),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Named(n) => f.write_str(n),
            Shape::List(inner) => write!(f, "[{inner}]"),
            Shape::NonNull(inner) => write!(f, "{inner}!"),
        }
    }
}

/// JSON to a GraphQL value, keeping integers as integers and other numbers as written.
pub(crate) fn to_graphql(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                // CJ's decimals travel as strings; a fractional number is kept as its text.
                Value::String(n.to_string())
            }
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(to_graphql).collect()),
        serde_json::Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (Name::new(k), to_graphql(v)))
                .collect(),
        ),
    }
}

/// A GraphQL value (arguments) to JSON.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(serde_json::Value::from)
            .or_else(|| n.as_u64().map(serde_json::Value::from))
            .or_else(|| n.as_f64().map(serde_json::Value::from))
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Enum(e) => serde_json::Value::String(e.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        Value::Binary(_) => serde_json::Value::Null,
    }
}

/// A GraphQL error response, as CJ sends them: HTTP 200, `data: null`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"data": null, "errors": [{"message": message}]});
    (status, axum::Json(body)).into_response()
}

/// The bearer token of a request: `Ok(None)` without an `Authorization` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?;
    let token = text.strip_prefix("Bearer ").ok_or(())?.trim();
    if token.is_empty() {
        return Err(());
    }
    Ok(Some(token.to_string()))
}

/// A request's variables, still as JSON: they are built by [`run`], which knows the API and
/// so the types the operation takes.
struct Pending(Mutex<Option<PendingBody>>);

struct PendingBody {
    /// The `variables` object, a slice of the body.
    variables: Option<Bytes>,
    /// The size of the whole body.
    body_len: usize,
}

/// Reads a GraphQL request body into async-graphql's request, without building anything from
/// its variables yet (see [`run`]).
pub(crate) fn parse_request(body: Bytes) -> Result<async_graphql::Request, String> {
    #[derive(serde::Deserialize)]
    struct Fields<'a> {
        #[serde(borrow, default)]
        query: Option<&'a RawValue>,
        #[serde(borrow, default, rename = "operationName")]
        operation_name: Option<&'a RawValue>,
        #[serde(borrow, default)]
        variables: Option<&'a RawValue>,
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("Invalid request: the body must be a JSON object".into());
    }
    let fields: Fields<'_> =
        serde_json::from_slice(&body).map_err(|e| format!("Invalid JSON body: {e}"))?;
    let query: String = fields
        .query
        .and_then(|q| serde_json::from_str(q.get()).ok())
        .ok_or("Invalid request: `query` must be a string")?;
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = fields
        .operation_name
        .and_then(|n| serde_json::from_str::<String>(n.get()).ok())
    {
        request = request.operation_name(name);
    }
    let variables = match fields.variables {
        None => None,
        Some(v) if v.get().starts_with('{') => {
            Some(slice_of(&body, v.get()).ok_or("Invalid request: `variables` could not be read")?)
        }
        Some(_) => return Err("Invalid request: `variables` must be an object".into()),
    };
    request.data.insert(Pending(Mutex::new(Some(PendingBody {
        variables,
        body_len: body.len(),
    }))));
    Ok(request)
}

/// `part` (borrowed from `body`) as a slice of `body`, without copying it.
fn slice_of(body: &Bytes, part: &str) -> Option<Bytes> {
    let start = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    body.get(start..end)?;
    Some(body.slice(start..end))
}

/// Runs a request and answers with its JSON (HTTP 200, like CJ, whatever the errors): first
/// its variables, as far as they fit the operation, then the operation, within the limits.
pub(crate) async fn run(
    api: &Api,
    mut request: async_graphql::Request,
) -> (async_graphql::Response, Response) {
    let pending = request
        .data
        .get(&TypeId::of::<Pending>())
        .and_then(|p| p.downcast_ref::<Pending>())
        .and_then(|p| p.0.lock().ok()?.take());
    let body_len = pending.as_ref().map_or(0, |p| p.body_len);
    if request.query.len() > api.max_query_bytes {
        return refused(ServerError::new(
            format!(
                "The query is {} bytes, over this sandbox's limit of {} (send batches as \
                 variables)",
                request.query.len(),
                api.max_query_bytes
            ),
            None,
        ));
    }
    if let Ok(doc) = request.parsed_query()
        && count_fields(doc).is_some_and(|n| n > api.max_complexity)
    {
        return refused(ServerError::new("Query is too complex.", None));
    }
    if let Some(raw) = pending.and_then(|p| p.variables) {
        match variables(&api.inputs, &mut request, &raw) {
            Ok((variables, stash)) => {
                request.variables = variables;
                request.data.insert(stash);
            }
            Err(error) => return refused(error),
        }
    }
    let limit = api
        .max_answer_bytes
        .saturating_add(body_len.saturating_mul(2));
    request.data.insert(AnswerLimit(limit));
    let echoes = Arc::new(Echoes::default());
    request.data.insert(echoes.clone());
    let response = api.schema.execute(request).await;
    let echoes = echoes.take();
    let http = if echoes.is_empty() {
        match json_within(&response, limit) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(message) => error_response(StatusCode::OK, &message),
        }
    } else {
        match echo_within(&response, &echoes, &api.inputs, limit) {
            Ok((chunks, length)) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::CONTENT_LENGTH, length.to_string()),
                ],
                axum::body::Body::from_stream(futures_util::stream::iter(
                    chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
                )),
            )
                .into_response(),
            Err(message) => error_response(StatusCode::OK, &message),
        }
    };
    (response, http)
}

/// How many fields a document selects, each fragment counted wherever it is spread (as
/// async-graphql counts complexity), without expanding the fragments: async-graphql's
/// validation does expand them, so that a small document of fragments spreading fragments
/// would keep it busy for hours before its complexity is known. `None` when fragments nest
/// too deep to count (async-graphql refuses those before validating).
fn count_fields(doc: &ExecutableDocument) -> Option<usize> {
    /// Above async-graphql's own limit (32), so that whatever it lets through is counted.
    const MAX_NESTING: usize = 64;

    fn count<'a>(
        set: &'a SelectionSet,
        doc: &'a ExecutableDocument,
        fragments: &mut HashMap<&'a str, usize>,
        nesting: usize,
    ) -> Option<usize> {
        if nesting > MAX_NESTING {
            return None;
        }
        let mut fields = 0usize;
        for item in &set.items {
            let more = match &item.node {
                Selection::Field(f) => {
                    count(&f.node.selection_set.node, doc, fragments, nesting + 1)?
                        .saturating_add(1)
                }
                Selection::InlineFragment(i) => {
                    count(&i.node.selection_set.node, doc, fragments, nesting + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    match (fragments.get(name.as_str()), doc.fragments.get(name)) {
                        (Some(known), _) => *known,
                        // async-graphql reports unknown fragments.
                        (None, None) => 0,
                        (None, Some(fragment)) => {
                            let n = count(
                                &fragment.node.selection_set.node,
                                doc,
                                fragments,
                                nesting + 1,
                            )?;
                            fragments.insert(name.as_str(), n);
                            n
                        }
                    }
                }
            };
            fields = fields.saturating_add(more);
        }
        Some(fields)
    }

    let mut fragments = HashMap::new();
    let mut fields = 0usize;
    for (_, operation) in doc.operations.iter() {
        let n = count(&operation.node.selection_set.node, doc, &mut fragments, 0)?;
        fields = fields.saturating_add(n);
    }
    Some(fields)
}

/// A request refused before it ran, as a GraphQL error.
fn refused(error: ServerError) -> (async_graphql::Response, Response) {
    let http = error_response(StatusCode::OK, &error.message);
    (async_graphql::Response::from_errors(vec![error]), http)
}

/// `response` as JSON, unless it is larger than `limit` bytes.
fn json_within(response: &async_graphql::Response, limit: usize) -> Result<Vec<u8>, String> {
    struct Capped {
        bytes: Vec<u8>,
        limit: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.bytes.len().saturating_add(buf.len()) > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped {
        bytes: Vec::new(),
        limit,
    };
    match serde_json::to_writer(&mut out, response) {
        Ok(()) => Ok(out.bytes),
        Err(e) => Err(write_error(&e, limit)),
    }
}

fn write_error(e: &serde_json::Error, limit: usize) -> String {
    if e.is_io() {
        too_large(limit)
    } else {
        format!("The answer could not be written: {e}")
    }
}

fn too_large(limit: usize) -> String {
    format!(
        "The answer would exceed {limit} bytes, this sandbox's limit for this request: select \
         fewer fields or items"
    )
}

/// What the variables of an API's operations may hold, from its SDL.
#[derive(Debug, Default)]
struct Inputs {
    /// Scalars and enums (besides the built-in scalars).
    leaves: HashSet<String>,
    /// Each enum's values.
    enums: HashMap<String, HashSet<String>>,
    /// The custom scalars' checks.
    scalars: HashMap<String, ScalarCheck>,
    /// Input object types whose list variables are stashed (see [`Stash`]).
    stashed: HashSet<String>,
    /// Input objects.
    objects: HashMap<String, InputFields>,
    /// The list types that arguments and input fields take, without their `!`s: no variable
    /// of another list type could be used, so none is built.
    lists: HashSet<String>,
}

#[derive(Debug, Default)]
struct InputFields {
    fields: HashMap<String, (Name, Shape)>,
    required: Vec<(String, Shape)>,
}

impl InputFields {
    fn of(fields: &[s::InputValue<'_, String>]) -> Self {
        let mut out = InputFields::default();
        for f in fields {
            let shape = Shape::of(&f.value_type);
            if matches!(shape, Shape::NonNull(_)) && f.default_value.is_none() {
                out.required.push((f.name.clone(), shape.clone()));
            }
            out.fields
                .insert(f.name.clone(), (Name::new(&f.name), shape));
        }
        out
    }
}

impl Inputs {
    fn take_list(&mut self, t: &s::Type<'_, String>) {
        let shape = Shape::of(t);
        if matches!(shape.nullable(), Shape::List(_)) {
            self.lists.insert(shape.bare());
        }
    }

    fn is_leaf(&self, name: &str) -> bool {
        self.leaves.contains(name) || ["String", "Int", "Float", "Boolean", "ID"].contains(&name)
    }

    /// Whether a leaf value (never null) fits leaf type `name`, as async-graphql checks it.
    fn leaf_fits(&self, name: &str, value: &Value) -> bool {
        match (name, value) {
            ("String", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
            ("Int", Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            ("Float", Value::Number(_)) => true,
            ("ID", Value::String(_)) => true,
            ("ID", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("String" | "Int" | "Float" | "Boolean" | "ID", _) => false,
            _ => {
                if let Some(values) = self.enums.get(name) {
                    matches!(value, Value::String(s) if values.contains(s))
                } else {
                    self.scalars.get(name).is_none_or(|check| check(value))
                }
            }
        }
    }

    /// Whether variables of this type are stashed (see [`Stash`]).
    fn stashes(&self, shape: &Shape) -> bool {
        matches!(shape.nullable(), Shape::List(_)) && self.stashed.contains(shape.named())
    }

    /// Whether a variable of this type could be used somewhere in a valid document.
    fn fits(&self, shape: &Shape) -> bool {
        let named = shape.named();
        (self.is_leaf(named) || self.objects.contains_key(named))
            && (!matches!(shape.nullable(), Shape::List(_)) || self.lists.contains(&shape.bare()))
    }
}

/// CJ's largest batch: no list of CJ's APIs may be longer (a longer one is refused as CJ
/// refuses an oversize batch, with the code that makes the Tracking handler answer 504).
const MAX_LIST_ITEMS: usize = 10_000;

/// Builds the variables of `request`'s operation from their JSON. Only the variables the
/// operation declares are built, each only while it fits its type: at the first part that
/// cannot (a list or object where another kind of value belongs, an unknown or missing input
/// field, a list longer than [`MAX_LIST_ITEMS`]), the request is refused with async-graphql's
/// kind of message. Values of leaves (scalars and enums) are left to async-graphql.
fn variables(
    inputs: &Inputs,
    request: &mut async_graphql::Request,
    raw: &Bytes,
) -> Result<(Variables, Stash), ServerError> {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        // async-graphql reports the syntax error.
        return Ok(Default::default());
    };
    let Some(declared) = declared_variables(doc, name.as_deref(), inputs) else {
        return Ok(Default::default());
    };
    let trace = RefCell::new(Trace::default());
    let stash = RefCell::new(Stash::default());
    let seed = VariablesSeed {
        inputs,
        declared: &declared,
        trace: &trace,
        raw,
        stash: &stash,
    };
    let mut json = serde_json::Deserializer::from_slice(raw);
    seed.deserialize(&mut json)
        .map(|v| (v, stash.take()))
        .map_err(|e| {
            let trace = trace.take();
            let path: Vec<String> = trace.path.into_iter().rev().collect();
            let message = match trace.reason {
                Some(reason) => format!(
                    "Invalid value for variable \"{}\", {reason}",
                    path.join(".")
                ),
                None => format!("Invalid JSON body: {e}"),
            };
            let error = async_graphql::Error::new(message);
            if trace.oversize {
                error
                    .extend_with(|_, x| x.set("code", crate::tracking::GATEWAY_TIMEOUT))
                    .into_server_error(Pos::default())
            } else {
                error.into_server_error(Pos::default())
            }
        })
}

/// The variables of the operation that will run, with their types; `None` when no operation
/// will (async-graphql then says why). Variables of types that nothing takes are left out.
fn declared_variables(
    doc: &ExecutableDocument,
    name: Option<&str>,
    inputs: &Inputs,
) -> Option<HashMap<String, Shape>> {
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some(
        operation
            .node
            .variable_definitions
            .iter()
            .map(|d| {
                (
                    d.node.name.node.to_string(),
                    Shape::of_variable(&d.node.var_type.node),
                )
            })
            .filter(|(_, shape)| inputs.fits(shape))
            .collect(),
    )
}

/// Where and why a variable was refused: the path is collected from the inside out.
#[derive(Debug, Default)]
struct Trace {
    path: Vec<String>,
    reason: Option<String>,
    /// The refusal is of a list longer than [`MAX_LIST_ITEMS`].
    oversize: bool,
}

struct VariablesSeed<'a> {
    inputs: &'a Inputs,
    declared: &'a HashMap<String, Shape>,
    trace: &'a RefCell<Trace>,
    /// The variables' JSON, which [`Stash`] slices.
    raw: &'a Bytes,
    stash: &'a RefCell<Stash>,
}

/// The list variables of the stashed input types ([`Api::stashing`]): each item kept as its
/// bytes in the request body (slices of it, not copies), after it was checked against its
/// type as async-graphql would; async-graphql itself is given an empty list. A batch of
/// orders then costs its body, not trees of values (which async-graphql would also copy
/// into the arguments). Read with [`list_argument`].
#[derive(Default)]
pub(crate) struct Stash(HashMap<String, Vec<Bytes>>);

/// The items of list argument `argument` of the field being resolved, each as JSON: parsed
/// one at a time from the request body when stashed, else converted from the argument.
pub(crate) enum ListArgument {
    /// Slices of the request body (shared, not copies).
    Stashed(Vec<Bytes>),
    Inline(Vec<serde_json::Value>),
}

impl ListArgument {
    /// How many items.
    pub(crate) fn len(&self) -> usize {
        match self {
            ListArgument::Stashed(items) => items.len(),
            ListArgument::Inline(items) => items.len(),
        }
    }

    /// Item `i` (null when there is none; a stashed item was checked, so it parses).
    pub(crate) fn item(&self, i: usize) -> serde_json::Value {
        match self {
            ListArgument::Stashed(items) => items
                .get(i)
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default(),
            ListArgument::Inline(items) => items.get(i).cloned().unwrap_or_default(),
        }
    }
}

/// Argument `argument` of the field being resolved, a list (a single value is a list of one).
pub(crate) fn list_argument(
    ctx: &ResolverContext<'_>,
    argument: &str,
) -> Result<ListArgument, async_graphql::Error> {
    let variable = ctx
        .ctx
        .item
        .node
        .get_argument(argument)
        .and_then(|v| match &v.node {
            async_graphql_value::Value::Variable(name) => Some(name.as_str()),
            _ => None,
        });
    if let Some(items) = variable
        .zip(ctx.data_opt::<Stash>())
        .and_then(|(name, stash)| stash.0.get(name))
    {
        return Ok(ListArgument::Stashed(items.clone()));
    }
    Ok(ListArgument::Inline(
        match to_json(ctx.args.try_get(argument)?.as_value()) {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Null => Vec::new(),
            single => vec![single],
        },
    ))
}

impl<'de> DeserializeSeed<'de> for VariablesSeed<'_> {
    type Value = Variables;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Variables, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VariablesSeed<'_> {
    type Value = Variables;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of variables")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Variables, A::Error> {
        let mut variables = Variables::default();
        while let Some(name) = map.next_key::<String>()? {
            let Some(shape) = self.declared.get(&name) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let expect = Expect {
                inputs: self.inputs,
                shape,
                trace: self.trace,
                build: true,
            };
            let on_error = |_: &A::Error| self.trace.borrow_mut().path.push(format!("${name}"));
            let value = if self.inputs.stashes(shape) {
                let text: &RawValue = map.next_value().inspect_err(on_error)?;
                self.stash(&name, text, expect).inspect_err(on_error)?
            } else {
                map.next_value_seed(expect).inspect_err(on_error)?
            };
            variables.insert(Name::new(name), value);
        }
        Ok(variables)
    }
}

impl VariablesSeed<'_> {
    /// Checks the items of a stashed list variable and keeps them (see [`Stash`]); what
    /// async-graphql gets instead: an empty list, or null for null.
    fn stash<E: de::Error>(
        &self,
        name: &str,
        text: &RawValue,
        expect: Expect<'_>,
    ) -> Result<Value, E> {
        let Shape::List(item) = expect.shape.nullable() else {
            return Err(expect.expected());
        };
        let items = StashItems {
            check: Expect {
                build: false,
                ..expect.with(item)
            },
            raw: self.raw,
        };
        let kept = match text.get().as_bytes().first() {
            Some(b'n') => return Ok(Value::Null),
            Some(b'[') => {
                let mut json = serde_json::Deserializer::from_str(text.get());
                (&mut json).deserialize_seq(items).map_err(E::custom)?
            }
            // A single value is coerced to a list of one.
            _ => vec![items.keep::<E>(text)?],
        };
        self.stash.borrow_mut().0.insert(name.to_string(), kept);
        Ok(Value::List(Vec::new()))
    }
}

/// The items of a stashed list, each checked as it is read (the first that does not fit
/// stops the reading) and kept as a slice of the body.
struct StashItems<'a> {
    check: Expect<'a>,
    raw: &'a Bytes,
}

impl StashItems<'_> {
    fn keep<E: de::Error>(&self, text: &RawValue) -> Result<Bytes, E> {
        let mut json = serde_json::Deserializer::from_str(text.get());
        self.check.deserialize(&mut json).map_err(E::custom)?;
        slice_of(self.raw, text.get()).ok_or_else(|| E::custom("the body could not be read"))
    }
}

impl<'de> Visitor<'de> for StashItems<'_> {
    type Value = Vec<Bytes>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}", self.check.shape)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bytes>, A::Error> {
        let mut kept = Vec::new();
        while let Some(text) = seq.next_element::<&RawValue>()? {
            if kept.len() == MAX_LIST_ITEMS {
                self.check.trace.borrow_mut().oversize = true;
                return Err(self.check.refuse(format!(
                    "a list of more than {MAX_LIST_ITEMS} items, CJ's largest batch"
                )));
            }
            let item = self
                .keep(text)
                .inspect_err(self.check.at(kept.len().to_string()))?;
            kept.push(item);
        }
        Ok(kept)
    }
}

/// One value of a variable, built as its type reads it. With `build` false it is only
/// checked, leaves and nulls included (async-graphql never sees it: see [`Stash`]), and
/// nothing is built.
#[derive(Clone, Copy)]
struct Expect<'a> {
    inputs: &'a Inputs,
    shape: &'a Shape,
    trace: &'a RefCell<Trace>,
    build: bool,
}

/// serde_json's own name for a number it hands over as text (with its
/// `arbitrary_precision` feature, which another crate of a build may turn on).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl Expect<'_> {
    fn with<'b>(&'b self, shape: &'b Shape) -> Expect<'b> {
        Expect {
            inputs: self.inputs,
            shape,
            trace: self.trace,
            build: self.build,
        }
    }

    fn refuse<E: de::Error>(&self, reason: String) -> E {
        self.trace.borrow_mut().reason = Some(reason);
        E::custom("refused")
    }

    fn expected<E: de::Error>(&self) -> E {
        self.refuse(format!("expected type \"{}\"", self.shape.named()))
    }

    /// A leaf value: it fits a scalar or enum (through any lists: a single value is coerced
    /// to a list of one).
    fn leaf<E: de::Error>(&self, value: Value) -> Result<Value, E> {
        let named = self.shape.named();
        if !self.inputs.is_leaf(named) {
            return Err(self.expected());
        }
        if self.build {
            return Ok(value);
        }
        if self.inputs.leaf_fits(named, &value) {
            Ok(Value::Null)
        } else {
            Err(self.expected())
        }
    }

    /// A null: async-graphql says whether it is allowed, unless it never sees it.
    fn null<E: de::Error>(&self) -> Result<Value, E> {
        if !self.build && matches!(self.shape, Shape::NonNull(_)) {
            return Err(self.refuse(format!("expected type \"{}\"", self.shape)));
        }
        Ok(Value::Null)
    }

    /// Adds a path segment to a refusal on its way out.
    fn at<E>(&self, segment: String) -> impl FnOnce(&E) + '_ {
        move |_| self.trace.borrow_mut().path.push(segment)
    }
}

/// A JSON number as GraphQL reads it: integers stay integers; other numbers keep their text,
/// as CJ's decimals travel as strings.
fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        Value::Number(Number::from(i))
    } else if let Ok(u) = text.parse::<u64>() {
        Value::Number(Number::from(u))
    } else {
        Value::String(text.to_string())
    }
}

impl<'de> DeserializeSeed<'de> for Expect<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Expect<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of type {}", self.shape)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.null()
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.null()
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.leaf(Value::Boolean(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.leaf(Value::Number(Number::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.leaf(Value::Number(Number::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        let text = Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string());
        self.leaf(Value::String(text))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.leaf(Value::String(s.to_string()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.leaf(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Shape::List(item) = self.shape.nullable() else {
            return Err(self.expected());
        };
        let mut items = Vec::new();
        while let Some(value) = seq
            .next_element_seed(self.with(item))
            .inspect_err(self.at(items.len().to_string()))?
        {
            if items.len() == MAX_LIST_ITEMS {
                self.trace.borrow_mut().oversize = true;
                return Err(self.refuse(format!(
                    "a list of more than {MAX_LIST_ITEMS} items, CJ's largest batch"
                )));
            }
            if self.build {
                items.push(value);
            }
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let first = map.next_key::<String>()?;
        if first.as_deref() == Some(NUMBER_TOKEN) {
            let text: String = map.next_value()?;
            return self.leaf(number(&text));
        }
        // Through any lists: a single object is coerced to a list of one.
        let type_name = self.shape.named();
        let Some(input) = self.inputs.objects.get(type_name) else {
            return Err(self.expected());
        };
        let mut object = async_graphql::indexmap::IndexMap::new();
        let mut given = HashSet::new();
        let mut next = first;
        while let Some(key) = next {
            let Some((name, shape)) = input.fields.get(&key) else {
                return Err(self.refuse(format!("unknown field \"{key}\" of type \"{type_name}\"")));
            };
            let value = map
                .next_value_seed(self.with(shape))
                .inspect_err(self.at(key))?;
            // A required field given null is refused on its own (see `null`).
            given.insert(name.clone());
            if self.build {
                object.insert(name.clone(), value);
            }
            next = map.next_key::<String>()?;
        }
        if let Some((field, shape)) = input
            .required
            .iter()
            .find(|(field, _)| !given.contains(field.as_str()))
        {
            return Err(self.refuse(format!(
                "field \"{field}\" of type \"{shape}\" is required but not provided"
            )));
        }
        Ok(Value::Object(object))
    }
}

/// The answer limit of a request (request data, read by [`AnswerSize`]).
struct AnswerLimit(usize);

/// Counts the size of an answer as it is built, field by field, and abandons the request as
/// soon as it exceeds its [`AnswerLimit`]: no field resolves after that (execution does not
/// yield, so only the resolvers themselves can stop it).
struct AnswerSize;

impl ExtensionFactory for AnswerSize {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AnswerCount {
            limit: AtomicUsize::new(usize::MAX),
            used: AtomicUsize::new(0),
        })
    }
}

struct AnswerCount {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl AnswerCount {
    fn over(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.limit.load(Ordering::Relaxed)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for AnswerCount {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let limit = ctx.data_opt::<AnswerLimit>().map_or(usize::MAX, |l| l.0);
        self.limit.store(limit, Ordering::Relaxed);
        let response = next.run(ctx, operation_name).await;
        if self.over() {
            // What was built, and the errors of the fields cut off, go.
            return async_graphql::Response::from_errors(vec![ServerError::new(
                too_large(limit),
                None,
            )]);
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if self.over() {
            return Err(ServerError::new("cut off", None));
        }
        // `"key":` and a comma, or a list item's comma.
        let key = match info.path_node.segment {
            QueryPathSegment::Name(name) => name.len().saturating_add(4),
            QueryPathSegment::Index(_) => 1,
        };
        let value = next.run(ctx, info).await?;
        let size = key.saturating_add(value.as_ref().map_or(5, own_size));
        self.used.fetch_add(size, Ordering::Relaxed);
        Ok(value)
    }
}

/// The JSON size of a value without its items and fields (each is counted as it resolves).
fn own_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Boolean(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len().saturating_add(2),
        Value::Enum(e) => e.len().saturating_add(2),
        Value::Binary(b) => b.len(),
        Value::List(items) => items.len().saturating_add(2),
        Value::Object(_) => 2,
    }
}

/// The lists of a request's answer written straight into its text ([`LazyField::Echo`]):
/// each item is made, written through the selection the document makes of it, and dropped,
/// so that an answer costs its text, not async-graphql's tree of values (ten times its text:
/// 1 GB for the echo of CJ's largest batch). async-graphql resolves an empty list in its
/// place; the answer is written around it.
#[derive(Default)]
pub(crate) struct Echoes(Mutex<Vec<Echo>>);

/// One list to write: where in the answer, what of each item, and the items.
struct Echo {
    /// The response keys down to the list.
    path: Vec<String>,
    selection: Plan,
    list: Arc<dyn EchoList>,
}

impl Echoes {
    /// Notes the list the field being resolved returns, with the selection made of its items
    /// (of type `item_type`).
    fn add(
        &self,
        ctx: &ResolverContext<'_>,
        item_type: &str,
        list: Arc<dyn EchoList>,
        types: &Types,
    ) {
        let path = ctx
            .ctx
            .path_node
            .map(|p| p.to_string_vec())
            .unwrap_or_default();
        let selection = Plan::of(
            &ctx.ctx.item.node.selection_set.node,
            item_type,
            &ctx.ctx.query_env.fragments,
            types,
        );
        if let Ok(mut echoes) = self.0.lock() {
            echoes.push(Echo {
                path,
                selection,
                list,
            });
        }
    }

    /// The lists to write, the selections of a list selected twice under one key merged.
    fn take(&self) -> Vec<Echo> {
        let echoes = self
            .0
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        let mut merged: Vec<Echo> = Vec::new();
        for echo in echoes {
            match merged.iter_mut().find(|m| m.path == echo.path) {
                Some(m) => m.selection.0.extend(echo.selection.0),
                None => merged.push(echo),
            }
        }
        for echo in &mut merged {
            echo.selection.group();
        }
        merged
    }
}

/// A document's fragments, by name.
type Fragments =
    HashMap<Name, async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>>;

/// What a document selects of an object, fragments expanded (`@skip` and `@include` are
/// applied by async-graphql before execution). Once grouped, one entry per response key in
/// the order of first appearance, as async-graphql merges fields.
#[derive(Debug, Clone, Default)]
struct Plan(Vec<Selected>);

#[derive(Debug, Clone)]
struct Selected {
    key: String,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    Typename(String),
    Field {
        name: String,
        shape: Shape,
        of: Plan,
    },
}

impl Plan {
    fn of(set: &SelectionSet, type_name: &str, fragments: &Fragments, types: &Types) -> Plan {
        let mut out = Vec::new();
        Self::collect(set, type_name, fragments, types, &mut out);
        Plan(out)
    }

    fn collect(
        set: &SelectionSet,
        type_name: &str,
        fragments: &Fragments,
        types: &Types,
        out: &mut Vec<Selected>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    let key = f.response_key().node.to_string();
                    let name = f.name.node.as_str();
                    if name == "__typename" {
                        out.push(Selected {
                            key,
                            what: What::Typename(type_name.to_string()),
                        });
                        continue;
                    }
                    // Validation refuses unknown fields; async-graphql skips them too.
                    let Some(shape) = types.get(type_name).and_then(|t| t.get(name)) else {
                        continue;
                    };
                    let of = Plan::of(&f.selection_set.node, shape.named(), fragments, types);
                    out.push(Selected {
                        key,
                        what: What::Field {
                            name: name.to_string(),
                            shape: shape.clone(),
                            of,
                        },
                    });
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = fragments.get(&spread.node.fragment_name.node)
                        && fragment.node.type_condition.node.on.node == type_name
                    {
                        Self::collect(
                            &fragment.node.selection_set.node,
                            type_name,
                            fragments,
                            types,
                            out,
                        );
                    }
                }
                Selection::InlineFragment(inline) => {
                    let matches = inline
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| c.node.on.node == type_name);
                    if matches {
                        Self::collect(
                            &inline.node.selection_set.node,
                            type_name,
                            fragments,
                            types,
                            out,
                        );
                    }
                }
            }
        }
    }

    /// One entry per response key, the selections of a key selected twice merged.
    fn group(&mut self) {
        let mut grouped: Vec<Selected> = Vec::new();
        for selected in std::mem::take(&mut self.0) {
            match grouped.iter_mut().find(|g| g.key == selected.key) {
                Some(Selected {
                    what: What::Field { of, .. },
                    ..
                }) => {
                    if let What::Field { of: more, .. } = selected.what {
                        of.0.extend(more.0);
                    }
                }
                // A leaf or `__typename` again: the first one stands.
                Some(_) => {}
                None => grouped.push(selected),
            }
        }
        for g in &mut grouped {
            if let What::Field { of, .. } = &mut g.what {
                of.group();
            }
        }
        self.0 = grouped;
    }
}

/// `response` as JSON with its echoes written in, in chunks, unless it is larger than `limit`
/// bytes; and its length.
fn echo_within(
    response: &async_graphql::Response,
    echoes: &[Echo],
    inputs: &Inputs,
    limit: usize,
) -> Result<(Vec<Bytes>, usize), String> {
    /// A chunk of the answer: what the answer holds at once beyond its text.
    const CHUNK: usize = 1024 * 1024;
    struct Chunked {
        chunks: Vec<Bytes>,
        current: Vec<u8>,
        length: usize,
        limit: usize,
    }
    impl std::io::Write for Chunked {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.length = self.length.saturating_add(buf.len());
            if self.length > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            self.current.extend_from_slice(buf);
            if self.current.len() >= CHUNK {
                let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK + 4096));
                self.chunks.push(Bytes::from(full));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    #[derive(serde::Serialize)]
    struct Spliced<'a> {
        data: At<'a>,
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        extensions: &'a std::collections::BTreeMap<String, Value>,
        #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
        errors: &'a [ServerError],
    }
    let mut out = Chunked {
        chunks: Vec::new(),
        current: Vec::with_capacity(CHUNK + 4096),
        length: 0,
        limit,
    };
    let answer = Spliced {
        data: At {
            value: &response.data,
            path: Vec::new(),
            echoes,
            inputs,
        },
        extensions: &response.extensions,
        errors: &response.errors,
    };
    match serde_json::to_writer(&mut out, &answer) {
        Ok(()) => {
            let mut chunks = out.chunks;
            chunks.push(Bytes::from(out.current));
            Ok((chunks, out.length))
        }
        Err(e) => Err(write_error(&e, limit)),
    }
}

/// A value of async-graphql's answer, at `path`: an echo is written where its empty list is.
struct At<'a> {
    value: &'a Value,
    path: Vec<String>,
    echoes: &'a [Echo],
    inputs: &'a Inputs,
}

impl At<'_> {
    fn child<'b>(&'b self, value: &'b Value, segment: String) -> At<'b> {
        let mut path = self.path.clone();
        path.push(segment);
        At {
            value,
            path,
            echoes: self.echoes,
            inputs: self.inputs,
        }
    }
}

impl serde::Serialize for At<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if let Some(echo) = self.echoes.iter().find(|e| e.path == self.path) {
            let mut seq = serializer.serialize_seq(Some(echo.list.len()))?;
            for i in 0..echo.list.len() {
                let item = echo.list.item(i);
                seq.serialize_element(&Written {
                    value: &item,
                    shape: None,
                    selection: &echo.selection,
                    inputs: self.inputs,
                })?;
            }
            return seq.end();
        }
        // Only the way down to an echo is walked; the rest is written as it is.
        let below = |p: &Echo| p.path.len() > self.path.len() && p.path.starts_with(&self.path);
        if !self.echoes.iter().any(below) {
            return self.value.serialize(serializer);
        }
        match self.value {
            Value::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key.as_str(), &self.child(value, key.to_string()))?;
                }
                map.end()
            }
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for (i, item) in items.iter().enumerate() {
                    seq.serialize_element(&self.child(item, i.to_string()))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Whether the items of a list of this type are objects.
fn item_is_object(item: &Shape, inputs: &Inputs) -> bool {
    matches!(item.nullable(), Shape::Named(n) if !inputs.is_leaf(n))
}

/// A JSON value written as a value of `shape` (an object of `selection`), as async-graphql
/// resolves it from JSON (see `field_value`); `shape` `None` is an object.
struct Written<'a> {
    value: &'a serde_json::Value,
    shape: Option<&'a Shape>,
    selection: &'a Plan,
    inputs: &'a Inputs,
}

impl serde::Serialize for Written<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap, SerializeSeq};
        let object = |serializer: S| {
            let mut map = serializer.serialize_map(Some(self.selection.0.len()))?;
            for selected in &self.selection.0 {
                match &selected.what {
                    What::Typename(name) => map.serialize_entry(&selected.key, name)?,
                    What::Field { name, shape, of } => map.serialize_entry(
                        &selected.key,
                        &Written {
                            value: self.value.get(name).unwrap_or(&serde_json::Value::Null),
                            shape: Some(shape),
                            selection: of,
                            inputs: self.inputs,
                        },
                    )?,
                }
            }
            map.end()
        };
        let Some(shape) = self.shape else {
            return object(serializer);
        };
        if self.value.is_null() {
            // The sandbox's echoes fill every non-null field from a required input; were one
            // missing, async-graphql would null the parent: no answer is better than another.
            if matches!(shape, Shape::NonNull(_)) {
                return Err(S::Error::custom(format!(
                    "a null where \"{shape}\" belongs"
                )));
            }
            return serializer.serialize_none();
        }
        match shape {
            Shape::NonNull(inner) => Written {
                shape: Some(inner),
                ..*self
            }
            .serialize(serializer),
            Shape::List(inner) => match self.value {
                serde_json::Value::Array(items) => {
                    let mut seq = serializer.serialize_seq(Some(items.len()))?;
                    // A null object in a list reads as an object of nulls (see
                    // `field_value`: async-graphql resolves its fields from nothing).
                    let null_object = item_is_object(inner, self.inputs);
                    for item in items {
                        let shape = (!(item.is_null() && null_object)).then_some(&**inner);
                        seq.serialize_element(&Written {
                            value: item,
                            shape,
                            ..*self
                        })?;
                    }
                    seq.end()
                }
                _ => serializer.serialize_none(),
            },
            Shape::Named(n) if !self.inputs.is_leaf(n) => object(serializer),
            Shape::Named(n) => {
                let value = to_graphql(self.value.clone());
                if !self.inputs.leaf_fits(n, &value) {
                    return Err(S::Error::custom(format!("an invalid value for \"{n}\"")));
                }
                value.serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = "
        type Query { echoed: Wrap, plain: Wrap }
        type Wrap { items: [Item!], count: Int }
        type Item { id: ID!, name: String, tags: [String], kind: Kind, sub: Sub, subs: [Sub]! }
        type Sub { a: Int, b: String }
        enum Kind { BIG SMALL }
    ";

    fn items() -> Vec<serde_json::Value> {
        vec![
            serde_json::json!({"id": "1", "name": "one", "tags": ["x", null, "y"], "kind": "BIG",
                "sub": {"a": 1, "b": "bee"}, "subs": [{"a": 2}, null, {"b": "c"}]}),
            serde_json::json!({"id": 2, "name": null, "tags": "not a list", "sub": 5, "subs": []}),
            serde_json::json!({"id": "3", "amount": 1.5, "sub": {"a": 7, "b": null}, "subs": [{}]}),
        ]
    }

    struct Items(Vec<serde_json::Value>);

    impl EchoList for Items {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn item(&self, i: usize) -> serde_json::Value {
            self.0.get(i).cloned().unwrap_or_default()
        }
    }

    fn api() -> Api {
        let mut resolvers: HashMap<&'static str, Resolver> = HashMap::new();
        resolvers.insert(
            "Query.echoed",
            Arc::new(|_ctx: ResolverContext<'_>| {
                let object = LazyObject::new(vec![
                    ("items".into(), LazyField::Echo(Arc::new(Items(items())))),
                    (
                        "count".into(),
                        LazyField::text(&serde_json::json!(3)).expect("text"),
                    ),
                ]);
                FieldFuture::Value(Some(FieldValue::owned_any(object)))
            }),
        );
        resolvers.insert(
            "Query.plain",
            Arc::new(|_ctx: ResolverContext<'_>| {
                let value = serde_json::json!({"items": items(), "count": 3});
                FieldFuture::Value(Some(FieldValue::owned_any(value)))
            }),
        );
        build(SDL, &resolvers, &HashMap::new(), &Limits::default()).expect("builds")
    }

    async fn answer(api: &Api, query: &str, variables: serde_json::Value) -> Vec<u8> {
        let body = serde_json::json!({"query": query, "variables": variables}).to_string();
        let request = parse_request(Bytes::from(body)).expect("a request");
        let (_, http) = run(api, request).await;
        axum::body::to_bytes(http.into_body(), usize::MAX)
            .await
            .expect("a body")
            .to_vec()
    }

    /// The echo is written byte for byte as async-graphql answers the same JSON, whatever
    /// the document selects of it.
    #[tokio::test]
    async fn an_echo_is_written_as_async_graphql_answers_the_same_json() {
        let api = api();
        let documents = [
            "{ x: ROOT { items { id name } count } }",
            "{ x: ROOT { count items { __typename id tags kind sub { a b } subs { b a } } } }",
            "{ x: ROOT { items { ...I } } } fragment I on Item { id s: sub { a } ... on Item { name } ... { kind } }",
            "{ x: ROOT { items { id id n: name n: name sub { a } sub { b } subs { a } subs { b a } } } }",
            "{ x: ROOT { a: items { id } b: items { name } } }",
            "{ x: ROOT { items { id } items { name sub { a } } } }",
            "query($s: Boolean!, $i: Boolean!) { x: ROOT { items { id name @skip(if: $s) tags @include(if: $i) sub @include(if: $s) { a } } } }",
            "{ x: ROOT { items { name } } y: ROOT { items { id } } }",
        ];
        for document in documents {
            let echoed = document.replace("ROOT", "echoed");
            let plain = document.replace("ROOT", "plain");
            let variables = serde_json::json!({"s": true, "i": true});
            let want = answer(&api, &plain, variables.clone()).await;
            let got = answer(&api, &echoed, variables).await;
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{document}"
            );
            assert!(!want.starts_with(br#"{"data":null"#), "{document}");
        }
    }

    #[tokio::test]
    async fn an_echo_past_the_answer_limit_is_refused() {
        let mut api = api();
        // Twice the request's body, about 200 bytes: the answer is about 300.
        api.max_answer_bytes = 0;
        let body = answer(
            &api,
            "{ x: echoed { items { id name tags kind sub { a b } } } }",
            serde_json::json!({}),
        )
        .await;
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with(r#"{"data":null,"errors":[{"message":"The answer would exceed"#),
            "{text}"
        );
    }
}
