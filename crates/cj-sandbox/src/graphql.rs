//! A GraphQL server built from an SDL file: async-graphql's dynamic schema does the parsing,
//! validation, variables, fragments, aliases and introspection; objects resolve from JSON.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, TypeRef,
};
use async_graphql::{Name, Number, Value};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use graphql_parser::schema as s;

/// A resolver for a root field.
pub(crate) type Resolver =
    Arc<dyn for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync>;

/// A custom scalar's input check.
pub(crate) type ScalarCheck = fn(&Value) -> bool;

/// Builds a schema from SDL. Root fields listed in `resolvers` (by `Type.field`) run the
/// given resolver; every other field reads itself from its parent JSON object.
pub(crate) fn build(
    sdl: &str,
    resolvers: &HashMap<&'static str, Resolver>,
    scalars: &HashMap<&'static str, ScalarCheck>,
) -> Result<Schema, String> {
    let doc = s::parse_schema::<String>(sdl).map_err(|e| e.to_string())?;
    let mut query = "Query".to_string();
    let mut mutation = None;
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    for def in &doc.definitions {
        match def {
            s::Definition::SchemaDefinition(sd) => {
                if let Some(q) = &sd.query {
                    query = q.clone();
                }
                mutation = sd.mutation.clone();
            }
            s::Definition::TypeDefinition(t) => {
                let (name, kind) = match t {
                    s::TypeDefinition::Object(o) => (&o.name, Kind::Object),
                    _ => continue,
                };
                kinds.insert(name.clone(), kind);
            }
            _ => {}
        }
    }
    let kinds = Arc::new(kinds);
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
                        None => json_field(&f.name, &f.field_type, kinds.clone()),
                    };
                    let mut field =
                        Field::new(&f.name, type_ref(&f.field_type), move |ctx| resolver(ctx));
                    if let Some(d) = &f.description {
                        field = field.description(d);
                    }
                    for a in &f.arguments {
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
                    input = input.field(input_value(f));
                }
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
                builder = builder.register(en);
            }
            s::TypeDefinition::Scalar(sc) => {
                let mut scalar = Scalar::new(&sc.name);
                if let Some(d) = &sc.description {
                    scalar = scalar.description(d);
                }
                if let Some(check) = scalars.get(sc.name.as_str()) {
                    scalar = scalar.validator(*check);
                }
                builder = builder.register(scalar);
            }
            _ => return Err("interfaces and unions are not used by CJ's schemas".into()),
        }
    }
    builder.finish().map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
}

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
fn json_field(name: &str, ty: &s::Type<'_, String>, kinds: Arc<HashMap<String, Kind>>) -> Resolver {
    let name = name.to_string();
    let ty = Shape::of(ty);
    Arc::new(move |ctx: ResolverContext<'_>| {
        let value = ctx
            .parent_value
            .downcast_ref::<serde_json::Value>()
            .and_then(|p| p.get(&name))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        FieldFuture::Value(field_value(value, &ty, &kinds))
    })
}

/// A JSON value as the field value of a GraphQL type: objects stay JSON for their own fields
/// to read, lists recurse, leaves become GraphQL values.
fn field_value<'a>(
    value: serde_json::Value,
    ty: &Shape,
    kinds: &HashMap<String, Kind>,
) -> Option<FieldValue<'a>> {
    if value.is_null() {
        return None;
    }
    match ty {
        Shape::NonNull(inner) => field_value(value, inner, kinds),
        Shape::List(inner) => {
            let items = match value {
                serde_json::Value::Array(items) => items,
                _ => return None,
            };
            Some(FieldValue::list(items.into_iter().map(|item| {
                field_value(item, inner, kinds).unwrap_or(FieldValue::NULL)
            })))
        }
        Shape::Named(n) if kinds.get(n) == Some(&Kind::Object) => {
            Some(FieldValue::owned_any(value))
        }
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

/// Reads a GraphQL request body into async-graphql's request, numbers converted by hand so
/// that they arrive as numbers whatever serde_json's features are.
pub(crate) fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON body: {e}"))?;
    let query = json
        .get("query")
        .and_then(|q| q.as_str())
        .ok_or("Invalid request: `query` must be a string")?;
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = json.get("operationName").and_then(|n| n.as_str()) {
        request = request.operation_name(name);
    }
    match json.get("variables") {
        None | Some(serde_json::Value::Null) => {}
        Some(v @ serde_json::Value::Object(_)) => {
            request =
                request.variables(async_graphql::Variables::from_value(to_graphql(v.clone())));
        }
        Some(_) => return Err("Invalid request: `variables` must be an object".into()),
    }
    Ok(request)
}

/// Runs a request and answers with its JSON (HTTP 200, like CJ, whatever the errors).
pub(crate) async fn run(
    schema: &Schema,
    request: async_graphql::Request,
) -> (async_graphql::Response, Response) {
    let response = schema.execute(request).await;
    let body = serde_json::to_value(&response).unwrap_or(serde_json::Value::Null);
    let http = (StatusCode::OK, axum::Json(body)).into_response();
    (response, http)
}
