//! `cargo xtask schemas`: refreshes `schema/<api>.graphql` from GraphQL introspection.
//!
//! The introspection response (live, or a saved JSON file with `--from-file`) is deserialized
//! into the structs below and rendered to SDL by hand. graphql-parser's printer is not used: it
//! drops blank lines inside block-string descriptions and escapes control characters wrongly.
//!
//! The renderer exists because CJ's own SDL rendering is not valid GraphQL: it printed a
//! description ending in a quote as `"""... i.e. "insurance""""`. Descriptions here are printed
//! as block strings only when that is unambiguous (see [`is_block_safe`]) and as escaped
//! `"..."` strings otherwise, and every rendering is parsed back before it is written.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;

use crate::apis::{APIS, Api};
use crate::{Result, workspace_root};

/// The APIs whose schemas live in `schema/`, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApiName {
    /// The Tracking API (`schema/tracking.graphql`).
    #[value(name = "tracking")]
    Tracking,
    /// The Program Terms API (`schema/program_terms.graphql`).
    #[value(name = "program_terms", alias = "program-terms")]
    ProgramTerms,
    /// The Commission Detail API (`schema/commission_detail.graphql`).
    #[value(name = "commission_detail", alias = "commission-detail")]
    CommissionDetail,
}

/// The environment variable holding the CJ personal access token.
const TOKEN_VAR: &str = "CJ_TOKEN";

impl ApiName {
    /// The API's endpoint and auth details.
    pub fn api(self) -> &'static Api {
        let name = match self {
            ApiName::Tracking => "tracking",
            ApiName::ProgramTerms => "program_terms",
            ApiName::CommissionDetail => "commission_detail",
        };
        APIS.iter()
            .find(|api| api.name == name)
            .expect("every ApiName is in APIS")
    }
}

/// Runs `cargo xtask schemas [--api NAME] [--from-file PATH] [--out PATH]`.
pub fn run(api: Option<ApiName>, from_file: Option<&Path>, out: Option<&Path>) -> Result<()> {
    let apis: Vec<&Api> = match api {
        Some(name) => vec![name.api()],
        None => APIS.iter().collect(),
    };
    // clap enforces these too; repeated here so `run` is safe to call on its own.
    if api.is_none() && (from_file.is_some() || out.is_some()) {
        return Err("--from-file and --out need --api".into());
    }

    // Check every token up front, so a missing token fails before anything is fetched or written.
    let token = std::env::var(TOKEN_VAR).ok();
    if from_file.is_none() {
        for api in &apis {
            token_for(api, token.as_deref())?;
        }
    }

    for api in apis {
        let json = match from_file {
            Some(path) => {
                fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => {
                eprintln!("introspecting {}", api.endpoint);
                fetch_introspection(api, token_for(api, token.as_deref())?)?
            }
        };
        let schema = parse_introspection(&json).map_err(|e| format!("{}: {e}", api.name))?;
        let sdl = render_file(api, &schema)?;
        let path = match out {
            Some(path) => path.to_path_buf(),
            None => schema_path(api),
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        fs::write(&path, sdl).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Where an API's schema is checked in.
pub fn schema_path(api: &Api) -> PathBuf {
    workspace_root().join(format!("schema/{}.graphql", api.name))
}

/// The token to send for `api`: `None` when the API needs none and none is set.
///
/// Errors name the variable, never its value.
fn token_for<'t>(api: &Api, token: Option<&'t str>) -> Result<Option<&'t str>> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    if api.token_required && token.is_none() {
        return Err(format!(
            "{} introspection ({}) needs a CJ personal access token: set {TOKEN_VAR} \
             (https://developers.cj.com/account/personal-access-tokens), \
             or use --from-file with a saved introspection response \
             (or --api with another API)",
            api.name, api.endpoint
        )
        .into());
    }
    Ok(token)
}

/// POSTs [`INTROSPECTION_QUERY`] to the API and returns the response body.
fn fetch_introspection(api: &Api, token: Option<&str>) -> Result<String> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = cj_transport::tls::client_builder()?
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("cj-rs-xtask/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut request = client.post(api.endpoint).json(&serde_json::json!({
            "operationName": "IntrospectionQuery",
            "query": INTROSPECTION_QUERY,
        }));
        if let Some(token) = token {
            // `bearer_auth` marks the header sensitive; the token is never logged or printed.
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| describe(api, &e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| describe(api, &e))?;
        if !status.is_success() {
            let excerpt: String = body.chars().take(500).collect();
            return Err(format!("{}: HTTP {status}: {excerpt}", api.endpoint).into());
        }
        Ok(body)
    })
}

/// A request error with its causes (reqwest's own message omits them: "error sending request"
/// says nothing of DNS or TLS). Request errors carry the URL, never the headers.
fn describe(api: &Api, error: &dyn std::error::Error) -> String {
    let mut message = format!("{}: {error}", api.endpoint);
    let mut source = error.source();
    while let Some(cause) = source {
        write!(message, ": {cause}").expect("writing to a String");
        source = cause.source();
    }
    message
}

/// The standard full introspection query (graphql-js `getIntrospectionQuery()` with its default
/// options: descriptions, deprecated fields and enum values, 7 levels of `ofType`).
pub const INTROSPECTION_QUERY: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types {
      ...FullType
    }
    directives {
      name
      description
      locations
      args {
        ...InputValue
      }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  fields(includeDeprecated: true) {
    name
    description
    args {
      ...InputValue
    }
    type {
      ...TypeRef
    }
    isDeprecated
    deprecationReason
  }
  inputFields {
    ...InputValue
  }
  interfaces {
    ...TypeRef
  }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes {
    ...TypeRef
  }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
}

fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
              }
            }
          }
        }
      }
    }
  }
}
"#;

// ---------------------------------------------------------------------------------------------
// Introspection structs: only what the renderer needs. Optional fields default, so responses
// from servers that omit (or add) some of them still deserialize.
// ---------------------------------------------------------------------------------------------

/// `__schema` of an introspection response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    query_type: Option<NamedRef>,
    #[serde(default)]
    mutation_type: Option<NamedRef>,
    #[serde(default)]
    subscription_type: Option<NamedRef>,
    types: Vec<FullType>,
    #[serde(default)]
    directives: Vec<DirectiveDef>,
}

/// `{ name }` of the root operation types.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct NamedRef {
    name: String,
}

/// `__TypeKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum TypeKind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
    List,
    NonNull,
}

impl TypeKind {
    /// Position of the kind's section in the rendered file.
    fn section(self) -> u8 {
        match self {
            TypeKind::Enum => 0,
            TypeKind::InputObject => 1,
            TypeKind::Object => 2,
            TypeKind::Interface => 3,
            TypeKind::Union => 4,
            TypeKind::Scalar => 5,
            TypeKind::List | TypeKind::NonNull => 6,
        }
    }
}

/// A named type (`...FullType`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FullType {
    kind: TypeKind,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    fields: Option<Vec<FieldDef>>,
    #[serde(default)]
    input_fields: Option<Vec<InputValueDef>>,
    #[serde(default)]
    interfaces: Option<Vec<TypeRef>>,
    #[serde(default)]
    enum_values: Option<Vec<EnumValueDef>>,
    #[serde(default)]
    possible_types: Option<Vec<TypeRef>>,
}

/// A field of an object or interface.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    args: Vec<InputValueDef>,
    #[serde(rename = "type")]
    ty: TypeRef,
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

/// An argument or input field (`...InputValue`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InputValueDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "type")]
    ty: TypeRef,
    /// A GraphQL literal, printed as is.
    #[serde(default)]
    default_value: Option<String>,
    /// Only present when the server was asked for input value deprecation; the standard query
    /// does not ask, but a saved response may have it.
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

/// A value of an enum.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnumValueDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

/// A (possibly wrapped) type reference (`...TypeRef`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeRef {
    kind: TypeKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    of_type: Option<Box<TypeRef>>,
}

/// A directive definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectiveDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    locations: Vec<String>,
    #[serde(default)]
    args: Vec<InputValueDef>,
    #[serde(default)]
    is_repeatable: bool,
}

/// Reads an introspection response: `{"data": {"__schema": ...}}` (what the endpoint returns)
/// or a bare `{"__schema": ...}`.
pub fn parse_introspection(json: &str) -> Result<Schema> {
    let mut value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("introspection is not JSON: {e}"))?;
    let errors = value.get("errors").cloned();
    if let Some(data) = value.get_mut("data") {
        value = data.take();
    }
    match value.get_mut("__schema") {
        Some(schema) if !schema.is_null() => serde_json::from_value(schema.take())
            .map_err(|e| format!("unexpected introspection shape: {e}").into()),
        _ => {
            let messages = errors
                .as_ref()
                .and_then(|errors| errors.as_array())
                .map(|errors| {
                    errors
                        .iter()
                        .map(|e| e.get("message").and_then(|m| m.as_str()).unwrap_or("?"))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            if messages.is_empty() {
                Err("no `__schema` in the introspection response".into())
            } else {
                Err(format!("introspection failed: {messages}").into())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// Scalars every GraphQL schema has; SDL leaves them out.
const BUILTIN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];

/// Directives the spec defines; SDL leaves them out.
const BUILTIN_DIRECTIVES: &[&str] = &["skip", "include", "deprecated", "specifiedBy", "oneOf"];

/// The reason `@deprecated` implies when it has none; rendered as a bare `@deprecated`.
const DEFAULT_DEPRECATION_REASON: &str = "No longer supported";

/// The complete file for `api`: a comment header, then the SDL, checked to parse.
pub fn render_file(api: &Api, schema: &Schema) -> Result<String> {
    let sdl = render(schema)?;
    graphql_parser::schema::parse_schema::<String>(&sdl)
        .map_err(|e| format!("rendered SDL for {} does not parse: {e}", api.name))?;
    Ok(format!("{}\n{sdl}", header(api)))
}

/// The file header. It has no date, so rendering the same schema twice gives the same file.
fn header(api: &Api) -> String {
    let auth = if api.token_required {
        "introspection needs a Bearer personal access token"
    } else {
        "introspection is open; queries need a Bearer personal access token"
    };
    format!(
        "# {title} schema, from GraphQL introspection of {endpoint}\n\
         # ({auth}).\n\
         # Rendered by `cargo xtask schemas`; rerun it to refresh this file rather than editing it.\n",
        title = api.title,
        endpoint = api.endpoint,
    )
}

/// Renders the schema as SDL: the `schema` block, custom directives, then named types grouped
/// as enums, inputs, objects, interfaces, unions, scalars, each group sorted by name. Fields,
/// arguments and enum values keep their introspection order.
pub fn render(schema: &Schema) -> Result<String> {
    let mut blocks = Vec::new();

    let roots = [
        ("query", &schema.query_type),
        ("mutation", &schema.mutation_type),
        ("subscription", &schema.subscription_type),
    ];
    let mut block = String::from("schema {\n");
    for (operation, root) in roots {
        if let Some(root) = root {
            writeln!(block, "  {operation}: {}", root.name)?;
        }
    }
    if schema.query_type.is_none() {
        return Err("the introspection has no query type".into());
    }
    block.push_str("}\n");
    blocks.push(block);

    let mut directives: Vec<&DirectiveDef> = schema
        .directives
        .iter()
        .filter(|d| !BUILTIN_DIRECTIVES.contains(&d.name.as_str()))
        .collect();
    directives.sort_by(|a, b| a.name.cmp(&b.name));
    for directive in directives {
        blocks.push(render_directive(directive)?);
    }

    let mut types: Vec<&FullType> = schema
        .types
        .iter()
        .filter(|t| !t.name.starts_with("__"))
        .filter(|t| !(t.kind == TypeKind::Scalar && BUILTIN_SCALARS.contains(&t.name.as_str())))
        .collect();
    types.sort_by(|a, b| (a.kind.section(), &a.name).cmp(&(b.kind.section(), &b.name)));
    for ty in types {
        blocks.push(render_type(ty)?);
    }

    Ok(blocks.join("\n"))
}

/// `directive @name(args) repeatable on A | B`.
fn render_directive(directive: &DirectiveDef) -> Result<String> {
    let mut out = String::new();
    write_description(&mut out, "", directive.description.as_deref());
    write!(out, "directive @{}", directive.name)?;
    write_arguments(&mut out, "", &directive.args)?;
    if directive.is_repeatable {
        out.push_str(" repeatable");
    }
    writeln!(out, " on {}", directive.locations.join(" | "))?;
    Ok(out)
}

/// One named type definition.
fn render_type(ty: &FullType) -> Result<String> {
    let mut out = String::new();
    write_description(&mut out, "", ty.description.as_deref());
    match ty.kind {
        TypeKind::Scalar => writeln!(out, "scalar {}", ty.name)?,
        TypeKind::Object | TypeKind::Interface => {
            let keyword = if ty.kind == TypeKind::Object {
                "type"
            } else {
                "interface"
            };
            write!(out, "{keyword} {}", ty.name)?;
            let interfaces = names(ty.interfaces.as_deref().unwrap_or_default())?;
            if !interfaces.is_empty() {
                write!(out, " implements {}", interfaces.join(" & "))?;
            }
            let fields = ty.fields.as_deref().unwrap_or_default();
            // `{}` does not parse: a type without fields is written without braces.
            if !fields.is_empty() {
                out.push_str(" {\n");
                for field in fields {
                    write_description(&mut out, "  ", field.description.as_deref());
                    write!(out, "  {}", field.name)?;
                    write_arguments(&mut out, "  ", &field.args)?;
                    write!(out, ": {}", type_string(&field.ty)?)?;
                    write_deprecated(
                        &mut out,
                        field.is_deprecated,
                        field.deprecation_reason.as_deref(),
                    );
                    out.push('\n');
                }
                out.push('}');
            }
            out.push('\n');
        }
        TypeKind::Union => {
            write!(out, "union {}", ty.name)?;
            let members = names(ty.possible_types.as_deref().unwrap_or_default())?;
            if !members.is_empty() {
                write!(out, " = {}", members.join(" | "))?;
            }
            out.push('\n');
        }
        TypeKind::Enum => {
            write!(out, "enum {}", ty.name)?;
            let values = ty.enum_values.as_deref().unwrap_or_default();
            if !values.is_empty() {
                out.push_str(" {\n");
                for value in values {
                    write_description(&mut out, "  ", value.description.as_deref());
                    write!(out, "  {}", value.name)?;
                    write_deprecated(
                        &mut out,
                        value.is_deprecated,
                        value.deprecation_reason.as_deref(),
                    );
                    out.push('\n');
                }
                out.push('}');
            }
            out.push('\n');
        }
        TypeKind::InputObject => {
            write!(out, "input {}", ty.name)?;
            let fields = ty.input_fields.as_deref().unwrap_or_default();
            if !fields.is_empty() {
                out.push_str(" {\n");
                for field in fields {
                    write_input_value(&mut out, "  ", field)?;
                    out.push('\n');
                }
                out.push('}');
            }
            out.push('\n');
        }
        TypeKind::List | TypeKind::NonNull => {
            return Err(format!("`{}` is a wrapping type, not a named type", ty.name).into());
        }
    }
    Ok(out)
}

/// The names of a list of named type references (interfaces, union members).
fn names(refs: &[TypeRef]) -> Result<Vec<String>> {
    refs.iter().map(type_string).collect()
}

/// The longest line an argument list is written on; a longer one has one argument per line.
const MAX_ARGUMENTS_LINE: usize = 100;

/// `(a: Int = 1, b: String)`, or one argument per line when any has a description or the line
/// would be longer than [`MAX_ARGUMENTS_LINE`] (Commission Detail's 16 filters).
fn write_arguments(out: &mut String, indent: &str, args: &[InputValueDef]) -> Result<()> {
    if args.is_empty() {
        return Ok(());
    }
    let mut one_line = String::from("(");
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            one_line.push_str(", ");
        }
        write_input_value(&mut one_line, "", arg)?;
    }
    one_line.push(')');
    let line_start = out.rfind('\n').map_or(0, |i| i + 1);
    let line_length = out.len() - line_start + one_line.len();
    if args.iter().all(|arg| arg.description.is_none()) && line_length <= MAX_ARGUMENTS_LINE {
        out.push_str(&one_line);
    } else {
        let inner = format!("{indent}  ");
        out.push_str("(\n");
        for arg in args {
            write_input_value(out, &inner, arg)?;
            out.push('\n');
        }
        write!(out, "{indent})")?;
    }
    Ok(())
}

/// `name: Type = default @deprecated`, with its description on the lines before.
fn write_input_value(out: &mut String, indent: &str, value: &InputValueDef) -> Result<()> {
    write_description(out, indent, value.description.as_deref());
    write!(out, "{indent}{}: {}", value.name, type_string(&value.ty)?)?;
    if let Some(default) = &value.default_value {
        write!(out, " = {default}")?;
    }
    write_deprecated(
        out,
        value.is_deprecated,
        value.deprecation_reason.as_deref(),
    );
    Ok(())
}

/// ` @deprecated` or ` @deprecated(reason: "...")`, as graphql-js prints them.
fn write_deprecated(out: &mut String, deprecated: bool, reason: Option<&str>) {
    if !deprecated {
        return;
    }
    out.push_str(" @deprecated");
    if let Some(reason) = reason.filter(|r| *r != DEFAULT_DEPRECATION_REASON) {
        out.push_str("(reason: ");
        out.push_str(&quote(reason));
        out.push(')');
    }
}

/// `[Foo!]!` for a wrapped type reference.
fn type_string(ty: &TypeRef) -> Result<String> {
    match ty.kind {
        TypeKind::NonNull => Ok(format!("{}!", type_string(inner(ty)?)?)),
        TypeKind::List => Ok(format!("[{}]", type_string(inner(ty)?)?)),
        _ => ty
            .name
            .clone()
            .ok_or_else(|| "a named type reference has no name".into()),
    }
}

/// The wrapped type of a `LIST` or `NON_NULL` reference.
fn inner(ty: &TypeRef) -> Result<&TypeRef> {
    ty.of_type.as_deref().ok_or_else(|| {
        "a wrapping type reference has no `ofType` (nested deeper than the query asked for?)".into()
    })
}

/// Writes a description, if any, on its own line(s) at `indent`.
///
/// Single-line text that is safe as a block string is written `"""text"""`, multi-line safe text
/// as a block with the text indented like the definition, and anything else as an escaped
/// `"..."` string.
fn write_description(out: &mut String, indent: &str, description: Option<&str>) {
    let Some(text) = description else { return };
    if !is_block_safe(text) {
        out.push_str(indent);
        out.push_str(&quote(text));
    } else if !text.contains('\n') {
        out.push_str(indent);
        out.push_str("\"\"\"");
        out.push_str(text);
        out.push_str("\"\"\"");
    } else {
        out.push_str(indent);
        out.push_str("\"\"\"\n");
        for line in text.split('\n') {
            // Blank lines get no indent: trailing whitespace would be noise, and a blank line
            // is not counted for (and keeps nothing of) the common indentation.
            if !line.is_empty() {
                out.push_str(indent);
                out.push_str(line);
            }
            out.push('\n');
        }
        out.push_str(indent);
        out.push_str("\"\"\"");
    }
    out.push('\n');
}

/// Whether `text` reads back unchanged from a block string as [`write_description`] writes it.
///
/// A block string cannot hold `"""`; a final `"` or `\` would merge with the closing `"""`
/// (CJ's `"insurance""""` defect); control characters and `\r` need escapes; and a block
/// string's value drops its first and last lines when blank and the indentation common to its
/// lines, so text that starts or ends with a blank line, or whose lines are all indented,
/// would change.
fn is_block_safe(text: &str) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    let blank = |line: &str| line.chars().all(|c| c == ' ' || c == '\t');
    !text.is_empty()
        && !text.contains("\"\"\"")
        && !text.ends_with('"')
        && !text.ends_with('\\')
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        && !text.contains('\u{feff}')
        && !blank(lines[0])
        && !blank(lines[lines.len() - 1])
        && (lines.len() == 1
            || lines
                .iter()
                .any(|line| !blank(line) && !line.starts_with([' ', '\t'])))
}

/// `text` as a GraphQL `"..."` string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `\b` and `\f` are valid GraphQL, but graphql-parser 0.4 decodes `\b` wrongly.
            c if c.is_control() || c == '\u{feff}' => {
                write!(out, "\\u{:04X}", c as u32).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use graphql_parser::schema as s;

    use super::*;

    fn fixture(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn parse(sdl: &str) -> s::Document<'static, String> {
        s::parse_schema::<String>(sdl)
            .unwrap_or_else(|e| panic!("rendered SDL does not parse: {e}\n{sdl}"))
            .into_static()
    }

    /// The description graphql-parser reads back from `desc` as [`write_description`] writes it.
    fn read_back(desc: &str, indent: &str) -> Option<String> {
        let mut field = String::new();
        write_description(&mut field, indent, Some(desc));
        let sdl = format!("type T {{\n{field}{indent}f: Int\n}}\n");
        let doc = parse(&sdl);
        match &doc.definitions[0] {
            s::Definition::TypeDefinition(s::TypeDefinition::Object(t)) => {
                t.fields[0].description.clone()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn descriptions_always_parse_back_unchanged() {
        let cases = [
            r#"Were other car option items chosen, i.e. "insurance""#,
            r#"ends with a backslash \"#,
            r#"contains """ a triple quote"#,
            r#"escaped \""" triple quote"#,
            r#"The string value will always match the regex pattern `[0-9]+(\.[0-9]+)?`."#,
            "plain",
            "",
            " ",
            "  leading spaces",
            "trailing spaces  ",
            "two\nlines",
            "A Datetime.\n\nAs an example, `1970-03-27`",
            "\nleading blank line",
            "trailing newline\n",
            "first\n  all other lines\n  indented",
            "  indented\n  everywhere",
            "windows\r\nline end",
            "tab\tand control \u{1} \u{8} \u{c} char",
            "ends with a quote on a later line\n\"quoted\"",
            "unicode: caf\u{e9} \u{1f697}",
        ];
        for case in cases {
            for indent in ["", "  "] {
                assert_eq!(read_back(case, indent).as_deref(), Some(case), "{case:?}");
            }
        }
    }

    #[test]
    fn description_ending_in_a_quote_is_not_a_block_string() {
        let mut out = String::new();
        let car = r#"Were other car option items chosen, i.e. "insurance""#;
        write_description(&mut out, "  ", Some(car));
        assert_eq!(
            out,
            "  \"Were other car option items chosen, i.e. \\\"insurance\\\"\"\n"
        );
        assert!(!out.contains("\"\"\"\""));

        let mut out = String::new();
        write_description(
            &mut out,
            "  ",
            Some("Promotion applied (i.e. \"summer sale\")"),
        );
        assert_eq!(
            out,
            "  \"\"\"Promotion applied (i.e. \"summer sale\")\"\"\"\n"
        );
    }

    #[test]
    fn renders_the_small_fixture() {
        let schema = parse_introspection(&fixture("introspection-small.json")).expect("fixture");
        let sdl = render(&schema).expect("render");
        let doc = parse(&sdl);

        let expected_lines = [
            "schema {\n  query: Query\n  mutation: Mutation\n}\n",
            "\"\"\"How much a field costs to resolve.\"\"\"\n\
             directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT\n",
            "enum OrderStatus {\n  \"\"\"Not yet validated\"\"\"\n  Pending\n  Accepted\n  \
             Locked @deprecated\n  Closed @deprecated(reason: \"Use `Locked`.\")\n}\n",
            "input OrderFilter {\n  status: OrderStatus = Accepted\n  first: Int = 50\n  \
             ids: [ID!] = []\n}\n",
            "  orders(filter: OrderFilter, first: Int = 10): [Order!]!\n",
            "  legacyOrders: [Order] @deprecated(reason: \"Use \\\"orders\\\".\")\n",
            "  \"Were other car option items chosen, i.e. \\\"insurance\\\"\"\n  carOptions: String\n",
            "  \"\"\"Promotion applied (i.e. \"summer sale\")\"\"\"\n  promotion: String\n",
            "  search(\n    \"\"\"Free text\"\"\"\n    text: String!\n    limit: Int = 5\n  ): [SearchResult!]!\n",
            "type Order implements Node {\n",
            "interface Node {\n  id: ID!\n}\n",
            "union SearchResult = Order | Advertiser\n",
            "\"\"\"\nA Datetime in UTC ISO 8601 format.\n\nAs an example, `1970-03-27T12:18:14Z`\n\"\"\"\nscalar Instant\n",
            "\"\"\"\nA numerical value.\n\nThe string value will always match the regex pattern `[0-9]+(\\.[0-9]+)?`.\n\"\"\"\nscalar NonNegativeDecimalNumber\n",
        ];
        for expected in expected_lines {
            assert!(sdl.contains(expected), "missing {expected:?} in:\n{sdl}");
        }
        assert!(
            !sdl.contains("\"\"\"\""),
            "a block string next to a quote:\n{sdl}"
        );

        // Built-in scalars, introspection types and built-in directives are left out.
        for absent in [
            "scalar String",
            "scalar Boolean",
            "__Schema",
            "__Type",
            "@include",
            "directive @deprecated",
        ] {
            assert!(!sdl.contains(absent), "unexpected {absent:?} in:\n{sdl}");
        }

        // Sections in order: schema, directives, enums, inputs, objects, interfaces, unions,
        // scalars; by name within a section.
        let order: Vec<String> = doc
            .definitions
            .iter()
            .map(|d| definition_key(d).1)
            .collect();
        assert_eq!(
            order,
            [
                "schema",
                "directive @cost",
                "enum OrderStatus",
                "input OrderFilter",
                "type Advertiser",
                "type Mutation",
                "type Order",
                "type Query",
                "interface Node",
                "union SearchResult",
                "scalar Instant",
                "scalar NonNegativeDecimalNumber",
            ]
        );

        // The carOptions description reads back exactly as introspection had it.
        let order_type = doc.definitions.iter().find_map(|d| match d {
            s::Definition::TypeDefinition(s::TypeDefinition::Object(t)) if t.name == "Order" => {
                Some(t)
            }
            _ => None,
        });
        let car_options = order_type
            .and_then(|t| t.fields.iter().find(|f| f.name == "carOptions"))
            .expect("Order.carOptions");
        assert_eq!(
            car_options.description.as_deref(),
            Some(r#"Were other car option items chosen, i.e. "insurance""#)
        );
    }

    #[test]
    fn reads_bare_and_wrapped_introspection() {
        let wrapped = fixture("introspection-small.json");
        let value: serde_json::Value = serde_json::from_str(&wrapped).expect("json");
        let bare = serde_json::to_string(&value["data"]).expect("json");
        assert_eq!(
            parse_introspection(&wrapped).expect("wrapped"),
            parse_introspection(&bare).expect("bare")
        );

        let error =
            parse_introspection(r#"{"data": null, "errors": [{"message": "Not authorized"}]}"#)
                .expect_err("no schema");
        assert!(error.to_string().contains("Not authorized"), "{error}");
        assert!(parse_introspection("{}").is_err());
        assert!(parse_introspection("<html>").is_err());
    }

    #[test]
    fn from_file_writes_a_header_and_valid_sdl() {
        let input =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/introspection-small.json");
        let out =
            std::env::temp_dir().join(format!("xtask-schemas-{}.graphql", std::process::id()));
        run(Some(ApiName::Tracking), Some(&input), Some(&out)).expect("run");
        let written = fs::read_to_string(&out).expect("written");
        fs::remove_file(&out).ok();

        assert!(written.starts_with(
            "# CJ Tracking API schema, from GraphQL introspection of https://tracking.api.cj.com/graphql\n"
        ));
        assert!(written.contains("Rendered by `cargo xtask schemas`"));
        assert!(written.contains("\n\nschema {\n"));
        parse(&written);

        // Reproducible: no timestamp, same bytes on every run.
        let schema = parse_introspection(&fixture("introspection-small.json")).expect("fixture");
        assert_eq!(
            render_file(ApiName::Tracking.api(), &schema).expect("render"),
            written
        );
    }

    #[test]
    fn token_is_required_only_where_needed() {
        let terms = ApiName::ProgramTerms.api();
        let tracking = ApiName::Tracking.api();
        assert_eq!(token_for(tracking, None).expect("optional"), None);
        assert_eq!(
            token_for(tracking, Some("t0k")).expect("optional"),
            Some("t0k")
        );
        assert_eq!(
            token_for(terms, Some(" t0k\n")).expect("given"),
            Some("t0k")
        );
        for missing in [None, Some(""), Some("  ")] {
            let error = token_for(terms, missing).expect_err("required").to_string();
            assert!(error.contains("CJ_TOKEN"), "{error}");
        }
        let error = run(None, Some(Path::new("x.json")), None).expect_err("needs --api");
        assert!(error.to_string().contains("--api"), "{error}");
    }

    #[test]
    fn introspection_query_is_valid_graphql_with_seven_of_type_levels() {
        graphql_parser::parse_query::<String>(INTROSPECTION_QUERY).expect("valid query");
        let type_ref = INTROSPECTION_QUERY
            .split("fragment TypeRef")
            .nth(1)
            .expect("TypeRef fragment");
        assert_eq!(type_ref.matches("ofType").count(), 7);
        for needed in [
            "description",
            "deprecationReason",
            "defaultValue",
            "possibleTypes",
        ] {
            assert!(INTROSPECTION_QUERY.contains(needed), "{needed}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Round trip on CJ's real schema: SDL -> introspection structs -> render -> SDL.
    // -----------------------------------------------------------------------------------------

    /// The checked-in SDL of an API whose schema comes from CJ's introspection.
    fn checked_in_sdl(api: &str) -> String {
        let path = workspace_root().join(format!("schema/{api}.graphql"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The APIs whose `schema/` file is CJ's introspection (Program Terms' is written by hand).
    const INTROSPECTED: &[&str] = &["tracking", "commission_detail"];

    #[test]
    fn introspected_schemas_round_trip() {
        for api in INTROSPECTED {
            let original = parse(&checked_in_sdl(api));
            let schema = schema_from_sdl(&original);
            let rendered = parse(&render(&schema).expect("render"));

            let before = definitions(&original);
            let after = definitions(&rendered);
            assert_eq!(
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>(),
                "{api}"
            );
            for (key, definition) in &before {
                assert_eq!(definition, &after[key], "{api}: {key:?} changed");
            }
        }
    }

    #[test]
    fn round_trips_keep_what_both_sides_could_lose() {
        let tracking = definitions(&parse(&checked_in_sdl("tracking")));
        let rendered = |api: &str| {
            definitions(&parse(
                &render(&schema_from_sdl(&parse(&checked_in_sdl(api)))).expect("render"),
            ))
        };
        let car = r#""Were other car option items chosen, i.e. \"insurance\"""#;
        assert!(tracking[&(2, "input VerticalParametersInput".into())].contains(car));
        let after = rendered("tracking");
        assert!(after[&(3, "type VerticalParameters".into())].contains(car));
        assert!(after[&(1, "enum CorrectionReason".into())].contains("ReturnedMerchandise"));
        assert!(tracking.len() > 25);

        let after = rendered("commission_detail");
        for ty in [
            "AdvertiserVerticalAttributes",
            "PublisherVerticalAttributes",
        ] {
            assert!(after[&(3, format!("type {ty}"))].contains(car), "{ty}");
        }
        assert!(after[&(1, "enum CorrectionReason".into())].contains("RETURNED_MERCHANDISE"));
        let publisher = &after[&(3, "type PublisherCommission".into())];
        assert!(
            publisher.contains("Use `shopperId`."),
            "a deprecation reason is kept"
        );
    }

    /// The checked-in schemas are exactly what the renderer writes (after their header, and up
    /// to trailing blank lines), so a refresh only shows real schema changes in the diff.
    #[test]
    fn introspected_schemas_are_in_rendered_form() {
        for api in INTROSPECTED {
            let text = checked_in_sdl(api);
            let body = text
                .find("\nschema {")
                .map(|i| &text[i + 1..])
                .expect("schema block");
            let rendered = render(&schema_from_sdl(&parse(&text))).expect("render");
            let first_difference = body
                .lines()
                .zip(rendered.lines())
                .enumerate()
                .find(|(_, (checked_in, rendered))| checked_in != rendered);
            if let Some((line, (checked_in, rendered))) = first_difference {
                panic!(
                    "{api}: body line {}: checked in {checked_in:?}, rendered {rendered:?}",
                    line + 1
                );
            }
            // The checked-in file may have one blank line more at its end.
            assert!(
                rendered.trim_end() == body.trim_end(),
                "{api}: lengths differ: rendered {} lines, checked in {} lines",
                rendered.lines().count(),
                body.lines().count()
            );
        }
    }

    /// Every definition as `(kind, "kind Name")` -> its debug form without source positions,
    /// which compares names, types, defaults, directives and descriptions (but not order of
    /// definitions, which the renderer chooses).
    fn definitions(doc: &s::Document<'static, String>) -> BTreeMap<(u8, String), String> {
        doc.definitions
            .iter()
            .map(|d| (definition_key(d), strip_positions(&format!("{d:#?}"))))
            .collect()
    }

    fn definition_key(d: &s::Definition<'static, String>) -> (u8, String) {
        use s::TypeDefinition as T;
        match d {
            s::Definition::SchemaDefinition(_) => (0, "schema".into()),
            s::Definition::DirectiveDefinition(d) => (0, format!("directive @{}", d.name)),
            s::Definition::TypeDefinition(t) => match t {
                T::Enum(t) => (1, format!("enum {}", t.name)),
                T::InputObject(t) => (2, format!("input {}", t.name)),
                T::Object(t) => (3, format!("type {}", t.name)),
                T::Interface(t) => (4, format!("interface {}", t.name)),
                T::Union(t) => (5, format!("union {}", t.name)),
                T::Scalar(t) => (6, format!("scalar {}", t.name)),
            },
            s::Definition::TypeExtension(_) => panic!("type extensions are not rendered"),
        }
    }

    /// Removes `position: Pos { .. }` entries from a `{:#?}` dump.
    fn strip_positions(debug: &str) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in debug.lines() {
            let trimmed = line.trim_start();
            if skipping {
                skipping = !trimmed.starts_with("},");
                continue;
            }
            if trimmed.starts_with("position: Pos(") {
                continue;
            }
            if trimmed.starts_with("position: Pos {") {
                skipping = !trimmed.ends_with("},");
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Builds the introspection structs an endpoint serving `doc` would return (as far as the
    /// renderer reads them), including the built-in scalars and an introspection type that
    /// the renderer must skip.
    fn schema_from_sdl(doc: &s::Document<'static, String>) -> Schema {
        let mut schema = Schema {
            query_type: None,
            mutation_type: None,
            subscription_type: None,
            types: Vec::new(),
            directives: vec![DirectiveDef {
                name: "deprecated".into(),
                description: None,
                locations: vec!["FIELD_DEFINITION".into(), "ENUM_VALUE".into()],
                args: vec![input_value_from_name(
                    "reason",
                    named(TypeKind::Scalar, "String"),
                )],
                is_repeatable: false,
            }],
        };
        for name in ["__Schema", "String", "Boolean"] {
            schema.types.push(full_type(
                if name == "__Schema" {
                    TypeKind::Object
                } else {
                    TypeKind::Scalar
                },
                name,
                None,
            ));
        }
        let kinds = kinds(doc);
        for definition in &doc.definitions {
            match definition {
                s::Definition::SchemaDefinition(d) => {
                    let root = |name: &Option<String>| name.clone().map(|name| NamedRef { name });
                    schema.query_type = root(&d.query);
                    schema.mutation_type = root(&d.mutation);
                    schema.subscription_type = root(&d.subscription);
                }
                s::Definition::DirectiveDefinition(d) => schema.directives.push(DirectiveDef {
                    name: d.name.clone(),
                    description: d.description.clone(),
                    locations: d.locations.iter().map(|l| l.as_str().to_string()).collect(),
                    args: d.arguments.iter().map(|a| input_value(a, &kinds)).collect(),
                    is_repeatable: d.repeatable,
                }),
                s::Definition::TypeDefinition(t) => {
                    schema.types.push(type_from_sdl(t, &kinds));
                }
                s::Definition::TypeExtension(_) => panic!("type extensions are not supported"),
            }
        }
        schema
    }

    /// The kind of every type `doc` defines, plus the built-in scalars.
    fn kinds(doc: &s::Document<'static, String>) -> BTreeMap<String, TypeKind> {
        let mut kinds: BTreeMap<String, TypeKind> = BUILTIN_SCALARS
            .iter()
            .map(|name| (name.to_string(), TypeKind::Scalar))
            .collect();
        for definition in &doc.definitions {
            if let s::Definition::TypeDefinition(t) = definition {
                let (kind, name) = match t {
                    s::TypeDefinition::Scalar(t) => (TypeKind::Scalar, &t.name),
                    s::TypeDefinition::Object(t) => (TypeKind::Object, &t.name),
                    s::TypeDefinition::Interface(t) => (TypeKind::Interface, &t.name),
                    s::TypeDefinition::Union(t) => (TypeKind::Union, &t.name),
                    s::TypeDefinition::Enum(t) => (TypeKind::Enum, &t.name),
                    s::TypeDefinition::InputObject(t) => (TypeKind::InputObject, &t.name),
                };
                kinds.insert(name.clone(), kind);
            }
        }
        kinds
    }

    fn full_type(kind: TypeKind, name: &str, description: Option<String>) -> FullType {
        FullType {
            kind,
            name: name.into(),
            description,
            fields: None,
            input_fields: None,
            interfaces: None,
            enum_values: None,
            possible_types: None,
        }
    }

    fn named(kind: TypeKind, name: &str) -> TypeRef {
        TypeRef {
            kind,
            name: Some(name.into()),
            of_type: None,
        }
    }

    fn type_ref(ty: &s::Type<'static, String>, kinds: &BTreeMap<String, TypeKind>) -> TypeRef {
        let wrap = |kind, inner: &s::Type<'static, String>| TypeRef {
            kind,
            name: None,
            of_type: Some(Box::new(type_ref(inner, kinds))),
        };
        match ty {
            s::Type::NamedType(name) => named(
                *kinds
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown type {name}")),
                name,
            ),
            s::Type::ListType(inner) => wrap(TypeKind::List, inner),
            s::Type::NonNullType(inner) => wrap(TypeKind::NonNull, inner),
        }
    }

    /// `(isDeprecated, deprecationReason)` from a `@deprecated` directive, if present.
    fn deprecation(directives: &[s::Directive<'static, String>]) -> (bool, Option<String>) {
        match directives.iter().find(|d| d.name == "deprecated") {
            None => (false, None),
            Some(d) => {
                let reason = d.arguments.iter().find(|(name, _)| name == "reason");
                let reason = match reason {
                    Some((_, s::Value::String(reason))) => reason.clone(),
                    Some((_, other)) => panic!("unexpected reason {other}"),
                    None => DEFAULT_DEPRECATION_REASON.to_string(),
                };
                (true, Some(reason))
            }
        }
    }

    fn input_value_from_name(name: &str, ty: TypeRef) -> InputValueDef {
        InputValueDef {
            name: name.into(),
            description: None,
            ty,
            default_value: None,
            is_deprecated: false,
            deprecation_reason: None,
        }
    }

    fn input_value(
        value: &s::InputValue<'static, String>,
        kinds: &BTreeMap<String, TypeKind>,
    ) -> InputValueDef {
        let (is_deprecated, deprecation_reason) = deprecation(&value.directives);
        InputValueDef {
            name: value.name.clone(),
            description: value.description.clone(),
            ty: type_ref(&value.value_type, kinds),
            default_value: value.default_value.as_ref().map(|v| v.to_string()),
            is_deprecated,
            deprecation_reason,
        }
    }

    fn fields(
        fields: &[s::Field<'static, String>],
        kinds: &BTreeMap<String, TypeKind>,
    ) -> Vec<FieldDef> {
        fields
            .iter()
            .map(|f| {
                let (is_deprecated, deprecation_reason) = deprecation(&f.directives);
                FieldDef {
                    name: f.name.clone(),
                    description: f.description.clone(),
                    args: f.arguments.iter().map(|a| input_value(a, kinds)).collect(),
                    ty: type_ref(&f.field_type, kinds),
                    is_deprecated,
                    deprecation_reason,
                }
            })
            .collect()
    }

    fn interfaces(names: &[String], kinds: &BTreeMap<String, TypeKind>) -> Option<Vec<TypeRef>> {
        Some(names.iter().map(|n| named(kinds[n], n)).collect())
    }

    fn type_from_sdl(
        t: &s::TypeDefinition<'static, String>,
        kinds: &BTreeMap<String, TypeKind>,
    ) -> FullType {
        match t {
            s::TypeDefinition::Scalar(t) => {
                full_type(TypeKind::Scalar, &t.name, t.description.clone())
            }
            s::TypeDefinition::Object(t) => FullType {
                fields: Some(fields(&t.fields, kinds)),
                interfaces: interfaces(&t.implements_interfaces, kinds),
                ..full_type(TypeKind::Object, &t.name, t.description.clone())
            },
            s::TypeDefinition::Interface(t) => FullType {
                fields: Some(fields(&t.fields, kinds)),
                interfaces: interfaces(&t.implements_interfaces, kinds),
                ..full_type(TypeKind::Interface, &t.name, t.description.clone())
            },
            s::TypeDefinition::Union(t) => FullType {
                possible_types: interfaces(&t.types, kinds),
                ..full_type(TypeKind::Union, &t.name, t.description.clone())
            },
            s::TypeDefinition::Enum(t) => FullType {
                enum_values: Some(
                    t.values
                        .iter()
                        .map(|v| {
                            let (is_deprecated, deprecation_reason) = deprecation(&v.directives);
                            EnumValueDef {
                                name: v.name.clone(),
                                description: v.description.clone(),
                                is_deprecated,
                                deprecation_reason,
                            }
                        })
                        .collect(),
                ),
                ..full_type(TypeKind::Enum, &t.name, t.description.clone())
            },
            s::TypeDefinition::InputObject(t) => FullType {
                input_fields: Some(t.fields.iter().map(|f| input_value(f, kinds)).collect()),
                ..full_type(TypeKind::InputObject, &t.name, t.description.clone())
            },
        }
    }
}
