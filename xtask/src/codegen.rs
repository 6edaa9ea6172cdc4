//! `cargo xtask codegen`: generates the typed GraphQL operations of `cj-graphql`.
//!
//! graphql_client generates one module per operation, each with its own copy of every input and
//! fragment type. This step runs graphql_client's code generator and then normalizes its output:
//! types named after a schema type (inputs, and fragments named after the type they select) and
//! fragments that select part of a type (`OrderReceipt on Order`) are
//! hoisted out of the operation modules into one shared set, so that `OrderItemInput` is one type
//! for create and restate. It also adds docs from the schema, builders for inputs and
//! `#[non_exhaustive]`, and points the scalar aliases at the crate's own scalar types.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use graphql_client_codegen::{
    CodegenMode, GraphQLClientCodegenOptions, generate_module_token_stream_from_string,
};
use graphql_parser::query as q;
use graphql_parser::schema as s;
use quote::format_ident;
use syn::visit_mut::VisitMut;

use crate::apis::{APIS, Api, Scalar};
use crate::{Result, workspace_root};

pub fn output_path(api: &Api) -> PathBuf {
    workspace_root().join(format!("crates/cj-graphql/src/generated/{}.rs", api.name))
}

/// Generates every API's code; with `check`, fails instead of writing when a file is stale.
pub fn run(check: bool) -> Result<()> {
    let mut stale = Vec::new();
    for api in APIS {
        let code = generate(api)?;
        let path = output_path(api);
        let current = fs::read_to_string(&path).unwrap_or_default();
        if current != code {
            if check {
                stale.push(path.display().to_string());
            } else {
                fs::create_dir_all(path.parent().expect("output has a parent"))?;
                fs::write(&path, code)?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    if !stale.is_empty() {
        return Err(format!(
            "generated code is stale, run `cargo xtask codegen`: {}",
            stale.join(", ")
        )
        .into());
    }
    Ok(())
}

/// Generates the normalized Rust source for one API.
pub fn generate(api: &Api) -> Result<String> {
    let root = workspace_root();
    let schema_path = root.join(format!("schema/{}.graphql", api.name));
    let schema_text = fs::read_to_string(&schema_path)?;
    let schema = s::parse_schema::<String>(&schema_text)
        .map_err(|e| format!("{}: {e}", schema_path.display()))?;
    let mut schema_info = SchemaInfo::new(&schema);
    apply_docs_overlay(&mut schema_info, api)?;

    let queries_dir = root.join(format!("queries/{}", api.name));
    let fragments = read_fragments(&queries_dir.join("fragments.graphql"))?;
    add_partial_fragments(&mut schema_info, &fragments)?;
    let mut operations = Vec::new();
    for entry in fs::read_dir(&queries_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "graphql")
            && path.file_name().is_some_and(|n| n != "fragments.graphql")
        {
            operations.push(path);
        }
    }
    operations.sort();

    let mut shared: BTreeMap<String, syn::Item> = BTreeMap::new();
    let mut rest: Vec<syn::Item> = Vec::new();
    for op_path in &operations {
        let document = assemble_document(op_path, &fragments)?;
        let mut options = GraphQLClientCodegenOptions::new(CodegenMode::Cli);
        options.set_module_visibility(syn::parse_quote!(pub(crate)));
        options.set_extern_enums(api.extern_enums.iter().map(|e| e.to_string()).collect());
        options.set_skip_serializing_none(true);
        options.set_variables_derives("Debug, Clone, PartialEq, Deserialize".into());
        options.set_response_derives("Debug, Clone, PartialEq, Serialize".into());
        let tokens = generate_module_token_stream_from_string(&document, &schema_path, options)
            .map_err(|e| format!("{}: {e}", op_path.display()))?;
        let file: syn::File = syn::parse2(tokens)?;
        for item in file.items {
            match item {
                syn::Item::Mod(mut module) => {
                    let (_, items) = module.content.take().ok_or("operation module is empty")?;
                    let mut kept = Vec::new();
                    for item in items {
                        match type_name(&item) {
                            Some(name) if schema_info.types.contains_key(&name) => {
                                merge_shared(&mut shared, name, item)?;
                            }
                            _ => kept.push(item),
                        }
                    }
                    module.content = Some((Default::default(), kept));
                    rest.push(syn::Item::Mod(module));
                }
                other => rest.push(other),
            }
        }
    }

    let mut items: Vec<syn::Item> = Vec::new();
    for (name, mut item) in shared {
        decorate_shared(&mut item, &name, &schema_info);
        items.push(item);
    }
    items.extend(rest);
    let mut file = syn::File {
        shebang: None,
        attrs: Vec::new(),
        items,
    };
    resolve_aliases(&mut file);
    box_large_fields(&mut file);
    store_large_inputs_sparsely(&mut file);
    add_scalar_readers(&mut file, api.scalars)?;
    ScalarAliases(api.scalars).visit_file_mut(&mut file);

    let header = format!(
        "// @generated by `cargo xtask codegen` from schema/{0}.graphql and queries/{0}/.\n\
         // Do not edit: change the schema or the queries and run `cargo xtask codegen`.\n\n\
         use super::*;\n\
         use serde::{{Deserialize, Serialize}};\n\n",
        api.name
    );
    Ok(header + &prettyplease::unparse(&file))
}

/// Every fragment definition of `fragments.graphql`, by name, and the type each selects.
fn read_fragments(path: &Path) -> Result<BTreeMap<String, (String, String)>> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text = fs::read_to_string(path)?;
    let doc = q::parse_query::<String>(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for def in doc.definitions {
        if let q::Definition::Fragment(f) = def {
            let q::TypeCondition::On(on) = &f.type_condition;
            out.insert(f.name.clone(), (f.to_string(), on.clone()));
        }
    }
    Ok(out)
}

/// Makes each fragment named otherwise than its type (a partial selection, such as
/// `OrderReceipt on Order`) a shared type too, documented from the type it selects.
fn add_partial_fragments(
    schema: &mut SchemaInfo,
    fragments: &BTreeMap<String, (String, String)>,
) -> Result<()> {
    for (name, (_, on)) in fragments {
        if name == on {
            continue;
        }
        if schema.types.contains_key(name) {
            return Err(format!("fragment {name} is named after another schema type").into());
        }
        let mut info = schema
            .types
            .get(on)
            .cloned()
            .ok_or_else(|| format!("fragment {name} selects {on}, not in the schema"))?;
        info.selects = Some(on.clone());
        schema.types.insert(name.clone(), info);
    }
    Ok(())
}

/// The operation's own text followed by every fragment it uses, directly or not.
/// GraphQL servers refuse unused fragments, so each document carries only its own.
fn assemble_document(
    op_path: &Path,
    fragments: &BTreeMap<String, (String, String)>,
) -> Result<String> {
    let op_text = fs::read_to_string(op_path)?;
    let mut used = BTreeSet::new();
    let mut pending = spreads(&op_text)?;
    while let Some(name) = pending.pop() {
        if used.insert(name.clone()) {
            let (text, _) = fragments
                .get(&name)
                .ok_or_else(|| format!("{}: unknown fragment {name}", op_path.display()))?;
            pending.extend(spreads(text)?);
        }
    }
    let mut document = op_text.trim_end().to_string();
    for name in &used {
        document.push_str("\n\n");
        document.push_str(fragments[name].0.trim_end());
    }
    document.push('\n');
    Ok(document)
}

/// Names of the fragments spread in a document.
fn spreads(text: &str) -> Result<Vec<String>> {
    fn walk(set: &q::SelectionSet<'_, String>, out: &mut Vec<String>) {
        for sel in &set.items {
            match sel {
                q::Selection::Field(f) => walk(&f.selection_set, out),
                q::Selection::FragmentSpread(s) => out.push(s.fragment_name.clone()),
                q::Selection::InlineFragment(i) => walk(&i.selection_set, out),
            }
        }
    }
    let doc = q::parse_query::<String>(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for def in &doc.definitions {
        match def {
            q::Definition::Fragment(f) => walk(&f.selection_set, &mut out),
            q::Definition::Operation(op) => match op {
                q::OperationDefinition::SelectionSet(s) => walk(s, &mut out),
                q::OperationDefinition::Query(x) => walk(&x.selection_set, &mut out),
                q::OperationDefinition::Mutation(x) => walk(&x.selection_set, &mut out),
                q::OperationDefinition::Subscription(x) => walk(&x.selection_set, &mut out),
            },
        }
    }
    Ok(out)
}

fn type_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        _ => None,
    }
}

/// Adds a schema-named type to the shared set; two operations must have generated it alike.
fn merge_shared(
    shared: &mut BTreeMap<String, syn::Item>,
    name: String,
    item: syn::Item,
) -> Result<()> {
    if let Some(existing) = shared.get(&name) {
        if existing != &item {
            return Err(format!(
                "{name} is generated differently by two operations: select it through its fragment \
                 `...{name}` everywhere"
            )
            .into());
        }
        return Ok(());
    }
    shared.insert(name, item);
    Ok(())
}

/// What the schema says of each type and field, for docs.
struct SchemaInfo {
    types: BTreeMap<String, TypeInfo>,
}

#[derive(Clone)]
struct TypeInfo {
    kind: &'static str,
    description: Option<String>,
    fields: BTreeMap<String, (String, Option<String>)>,
    /// For a fragment named otherwise than its type (`OrderReceipt on Order`): that type. Such
    /// a fragment selects only some fields.
    selects: Option<String>,
}

impl SchemaInfo {
    fn new(schema: &s::Document<'_, String>) -> Self {
        let mut types = BTreeMap::new();
        for def in &schema.definitions {
            let s::Definition::TypeDefinition(t) = def else {
                continue;
            };
            let (name, info) = match t {
                s::TypeDefinition::Object(o) => (
                    o.name.clone(),
                    TypeInfo {
                        kind: "type",
                        description: o.description.clone(),
                        fields: o
                            .fields
                            .iter()
                            .map(|f| {
                                (
                                    f.name.clone(),
                                    (f.field_type.to_string(), f.description.clone()),
                                )
                            })
                            .collect(),
                        selects: None,
                    },
                ),
                s::TypeDefinition::InputObject(o) => (
                    o.name.clone(),
                    TypeInfo {
                        kind: "input",
                        description: o.description.clone(),
                        fields: o
                            .fields
                            .iter()
                            .map(|f| {
                                (
                                    f.name.clone(),
                                    (f.value_type.to_string(), f.description.clone()),
                                )
                            })
                            .collect(),
                        selects: None,
                    },
                ),
                s::TypeDefinition::Enum(e) => (
                    e.name.clone(),
                    TypeInfo {
                        kind: "enum",
                        description: e.description.clone(),
                        fields: BTreeMap::new(),
                        selects: None,
                    },
                ),
                _ => continue,
            };
            types.insert(name, info);
        }
        SchemaInfo { types }
    }
}

/// `schema/<api>.docs.json`: docs for input fields that CJ's SDL leaves undescribed.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DocsOverlay {
    /// For the reader of the file: what it is.
    #[serde(rename = "about")]
    _about: Vec<String>,
    /// For the reader of the file: where the texts come from.
    #[serde(rename = "sources")]
    _sources: Vec<String>,
    /// Input type, then field (CJ's names), then its doc.
    inputs: BTreeMap<String, BTreeMap<String, String>>,
}

fn docs_overlay_path(api: &Api) -> PathBuf {
    workspace_root().join(format!("schema/{}.docs.json", api.name))
}

/// Gives the SDL's undescribed input fields the docs of the API's overlay, if it has one. An
/// entry for a type or field the SDL does not have, or for a field the SDL now describes, is an
/// error: the overlay never hides or outlives CJ's own docs.
fn apply_docs_overlay(schema: &mut SchemaInfo, api: &Api) -> Result<()> {
    let path = docs_overlay_path(api);
    if !path.exists() {
        return Ok(());
    }
    let overlay: DocsOverlay = serde_json::from_str(&fs::read_to_string(&path)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    merge_docs_overlay(schema, overlay).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn merge_docs_overlay(
    schema: &mut SchemaInfo,
    overlay: DocsOverlay,
) -> std::result::Result<(), String> {
    for (type_name, fields) in overlay.inputs {
        let info = schema
            .types
            .get_mut(&type_name)
            .filter(|t| t.kind == "input")
            .ok_or_else(|| format!("`{type_name}` is not an input type of the schema"))?;
        for (field, doc) in fields {
            let (_, description) = info
                .fields
                .get_mut(&field)
                .ok_or_else(|| format!("`{type_name}.{field}` is not in the schema"))?;
            if description.as_deref().is_some_and(|d| !d.trim().is_empty()) {
                return Err(format!(
                    "`{type_name}.{field}` has a description in the schema now: drop it here"
                ));
            }
            *description = Some(doc);
        }
    }
    Ok(())
}

/// Docs from the schema, `#[non_exhaustive]`, and for inputs a builder and strict parsing.
fn decorate_shared(item: &mut syn::Item, name: &str, schema: &SchemaInfo) {
    let syn::Item::Struct(st) = item else {
        return;
    };
    let info = &schema.types[name];
    let mut doc = match (info.kind, &info.selects) {
        ("input", _) => format!("CJ's GraphQL input `{name}`."),
        (_, Some(on)) => format!(
            "Part of CJ's GraphQL type `{on}`: the fields of the fragment `{name}` (see \
             `queries/`)."
        ),
        _ => format!("CJ's GraphQL type `{name}`, with every field selected."),
    };
    if let Some(d) = &info.description {
        doc = format!("{}\n\n{doc}", d.trim());
    }
    let mut attrs = doc_lines(&doc);
    attrs.append(&mut st.attrs);
    if info.kind == "input" {
        attrs.push(syn::parse_quote!(#[derive(bon::Builder)]));
        attrs.push(syn::parse_quote!(
            #[builder(on(String, into), on(Id, into), on(Instant, into))]
        ));
        attrs.push(syn::parse_quote!(#[serde(deny_unknown_fields)]));
    }
    attrs.push(syn::parse_quote!(#[non_exhaustive]));
    st.attrs = attrs;

    for field in st.fields.iter_mut() {
        let graphql_name = graphql_field_name(field);
        let (ty, description) = info
            .fields
            .get(&graphql_name)
            .cloned()
            .unwrap_or_else(|| (String::from("?"), None));
        let mut doc = match description {
            Some(d) if !d.trim().is_empty() => format!("{} (`{graphql_name}: {ty}`)", d.trim()),
            _ => format!("`{graphql_name}: {ty}`"),
        };
        if field
            .ident
            .as_ref()
            .is_some_and(|i| i.to_string().starts_with("r#"))
        {
            doc.push_str(" (a Rust keyword, hence the `r#`)");
        }
        field.attrs.splice(0..0, doc_lines(&doc));
    }
}

/// One `#[doc]` per line of `doc`, so that the generated code reads as `///` comments (a
/// multi-line `#[doc]` prints as a `/** */` block).
fn doc_lines(doc: &str) -> Vec<syn::Attribute> {
    doc.lines()
        .map(|line| {
            let line = format!(" {line}");
            syn::parse_quote!(#[doc = #line])
        })
        .collect()
}

/// The GraphQL name of a generated field: its serde rename, or its own name.
fn graphql_field_name(field: &syn::Field) -> String {
    for attr in &field.attrs {
        if !attr.path().is_ident("serde") {
            continue;
        }
        let mut renamed = None;
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                renamed = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
        if let Some(name) = renamed {
            return name;
        }
    }
    let ident = field
        .ident
        .as_ref()
        .map(|i| i.to_string())
        .unwrap_or_default();
    ident.trim_start_matches("r#").to_string()
}

/// Replaces graphql_client's built-in scalar aliases by the Rust types they stand for, and `ID`
/// by the crate's `Id`.
struct ScalarAliases(&'static [Scalar]);

impl VisitMut for ScalarAliases {
    fn visit_type_path_mut(&mut self, tp: &mut syn::TypePath) {
        if tp.qself.is_none() && tp.path.segments.len() == 1 {
            let ident = &tp.path.segments[0].ident;
            let replacement = match ident.to_string().as_str() {
                "Boolean" => Some(format_ident!("bool")),
                "Float" => Some(format_ident!("f64")),
                "Int" => Some(format_ident!("i64")),
                // graphql_client maps `ID` to `String`; the crate's `Id` also reads numeric IDs.
                "ID" => Some(format_ident!("Id")),
                other => self
                    .0
                    .iter()
                    .find(|s| s.graphql == other)
                    .map(|s| format_ident!("{}", s.rust)),
            };
            if let Some(r) = replacement {
                tp.path = syn::parse_quote!(#r);
            }
        }
        syn::visit_mut::visit_type_path_mut(self, tp);
    }
}

/// Gives every field of a scalar with a reader (`Scalar::read_with`) its
/// `#[serde(deserialize_with)]`: `T` reads with `<module>::deserialize`, `Option<T>` with
/// `<module>::option` and `default` (a missing field stays `None`, as without the attribute).
/// Runs before [`ScalarAliases`], while fields still name their GraphQL scalar. A scalar with a
/// reader anywhere else (in a list) is an error: the reader would be skipped silently.
fn add_scalar_readers(file: &mut syn::File, scalars: &'static [Scalar]) -> Result<()> {
    struct Readers {
        scalars: &'static [Scalar],
        errors: Vec<String>,
    }
    impl Readers {
        fn reader(&self, ty: &syn::Type) -> Option<&'static str> {
            let syn::Type::Path(tp) = ty else {
                return None;
            };
            let ident = tp.path.get_ident()?;
            self.scalars
                .iter()
                .find(|s| ident == s.graphql)
                .and_then(|s| s.read_with)
        }
    }
    impl VisitMut for Readers {
        fn visit_field_mut(&mut self, field: &mut syn::Field) {
            let attr: syn::Attribute = if let Some(module) = self.reader(&field.ty) {
                let path = format!("{module}::deserialize");
                syn::parse_quote!(#[serde(deserialize_with = #path)])
            } else if let Some(module) = option_inner(&field.ty).and_then(|t| self.reader(t)) {
                let path = format!("{module}::option");
                syn::parse_quote!(#[serde(default, deserialize_with = #path)])
            } else {
                let ty = &field.ty;
                let words = quote::quote!(#ty).to_string();
                for s in self.scalars.iter().filter(|s| s.read_with.is_some()) {
                    if words
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .any(|w| w == s.graphql)
                    {
                        self.errors.push(format!(
                            "field `{}: {words}`: {} has a reader for `T` and `Option<T>` only",
                            field
                                .ident
                                .as_ref()
                                .map(|i| i.to_string())
                                .unwrap_or_default(),
                            s.graphql
                        ));
                    }
                }
                return;
            };
            field.attrs.push(attr);
        }
    }
    let mut readers = Readers {
        scalars,
        errors: Vec::new(),
    };
    readers.visit_file_mut(file);
    if readers.errors.is_empty() {
        Ok(())
    } else {
        Err(readers.errors.join("; ").into())
    }
}

/// Structs with more fields than this are boxed where another struct holds them.
const BOX_ABOVE_FIELDS: usize = 32;

/// Boxes every field (`T` or `Option<T>`) whose type is a generated struct of more than
/// [`BOX_ABOVE_FIELDS`] fields: an order without vertical parameters then carries one null
/// pointer instead of 115 empty `Option<String>`s (2.8 KB). A boxed field of an input takes
/// its value unboxed in the builder (`#[builder(into)]`: `Box<T>: From<T>`).
fn box_large_fields(file: &mut syn::File) {
    fn structs(items: &[syn::Item], out: &mut BTreeSet<String>) {
        for item in items {
            match item {
                syn::Item::Struct(s) if s.fields.len() > BOX_ABOVE_FIELDS => {
                    out.insert(s.ident.to_string());
                }
                syn::Item::Mod(m) => structs(m.content.as_ref().map_or(&[], |c| &c.1), out),
                _ => {}
            }
        }
    }
    struct Boxer(BTreeSet<String>);
    impl Boxer {
        fn is_large(&self, ty: &syn::Type) -> bool {
            matches!(ty, syn::Type::Path(tp) if tp.qself.is_none()
                && tp.path.get_ident().is_some_and(|i| self.0.contains(&i.to_string())))
        }
    }
    impl VisitMut for Boxer {
        fn visit_item_struct_mut(&mut self, st: &mut syn::ItemStruct) {
            let builder = st
                .attrs
                .iter()
                .any(|a| quote::quote!(#a).to_string().contains("bon :: Builder"));
            for field in st.fields.iter_mut() {
                let inner = match option_inner(&field.ty) {
                    Some(inner) => inner.clone(),
                    None => field.ty.clone(),
                };
                if !self.is_large(&inner) {
                    continue;
                }
                let boxed: syn::Type = syn::parse_quote!(Box<#inner>);
                field.ty = if option_inner(&field.ty).is_some() {
                    syn::parse_quote!(Option<#boxed>)
                } else {
                    boxed
                };
                if builder {
                    field.attrs.push(syn::parse_quote!(#[builder(into)]));
                }
            }
        }
    }
    let mut large = BTreeSet::new();
    structs(&file.items, &mut large);
    Boxer(large).visit_file_mut(file);
}

/// Stores each input struct of more than [`BOX_ABOVE_FIELDS`] optional fields sparsely: the
/// struct becomes a `sparse_input!` (crates/cj-graphql/src/tracking/sparse.rs), which keeps
/// its text fields as a list of those set and its other fields (enums) as they are. An order's
/// `VerticalParametersInput` then takes what it holds, not 115 `Option<String>`s (2.8 KB), and
/// is encoded in a step per field set.
fn store_large_inputs_sparsely(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Struct(st) = item else {
            continue;
        };
        let input = st
            .attrs
            .iter()
            .any(|a| quote::quote!(#a).to_string().contains("bon :: Builder"));
        let all_optional = st.fields.iter().all(|f| option_inner(&f.ty).is_some());
        if !input || st.fields.len() <= BOX_ABOVE_FIELDS || !all_optional {
            continue;
        }
        let name = &st.ident;
        let base = name.to_string();
        let base = base.strip_suffix("Input").unwrap_or(&base);
        let field_enum = format_ident!("{}", base.strip_suffix('s').unwrap_or(base));
        let builder = format_ident!("{name}Builder");
        let docs = |attrs: &[syn::Attribute]| -> Vec<syn::Attribute> {
            attrs
                .iter()
                .filter(|a| a.path().is_ident("doc"))
                .cloned()
                .collect()
        };
        let struct_docs = docs(&st.attrs);
        let (mut typed, mut text) = (Vec::new(), Vec::new());
        for f in &st.fields {
            let (Some(ident), Some(inner)) = (&f.ident, option_inner(&f.ty)) else {
                continue;
            };
            let doc = docs(&f.attrs);
            let gname = graphql_field_name(f);
            let maybe = format_ident!("maybe_{}", ident.to_string().trim_start_matches("r#"));
            if quote::quote!(#inner).to_string() == "String" {
                let variant = format_ident!("{}", camel_case(&ident.to_string()));
                text.push(quote::quote!(#(#doc)* #ident / #maybe / #variant = #gname,));
            } else {
                typed.push(quote::quote!(#(#doc)* #ident / #maybe: #inner = #gname,));
            }
        }
        *item = syn::parse_quote! {
            sparse_input! {
                #(#struct_docs)*
                pub struct #name, builder #builder, field #field_enum {
                    typed { #(#typed)* }
                    text { #(#text)* }
                }
            }
        };
    }
}

/// `CamelCase` of a `snake_case` field name (a raw `r#` prefix dropped).
fn camel_case(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `T` of `Option<T>`.
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(tp) = ty else {
        return None;
    };
    let segment = tp.path.segments.last()?;
    if tp.path.segments.len() != 1 || segment.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// Removes every `type` alias of the operation modules. An alias to a type of the same name is a
/// custom scalar or enum that the hand-written parent module provides; any other alias (such as
/// `OrderAdvertiser = Advertiser`, made for a selection that is one fragment spread) is replaced
/// by what it stands for, so that only CJ's type names remain.
fn resolve_aliases(file: &mut syn::File) {
    let mut aliases: BTreeMap<String, syn::Type> = BTreeMap::new();
    for item in &mut file.items {
        if let syn::Item::Mod(m) = item
            && let Some((_, items)) = &mut m.content
        {
            items.retain(|i| {
                // graphql_client imports `std::result::Result`, which nothing here uses.
                if let syn::Item::Use(u) = i {
                    return quote::quote!(#u).to_string() != "use std :: result :: Result ;";
                }
                let syn::Item::Type(alias) = i else {
                    return true;
                };
                let same_name = matches!(&*alias.ty, syn::Type::Path(p)
                    if p.path.segments.last().is_some_and(|s| s.ident == alias.ident));
                if !same_name && alias.ident != "ID" {
                    aliases.insert(alias.ident.to_string(), (*alias.ty).clone());
                }
                false
            });
        }
    }
    struct Substitute<'a>(&'a BTreeMap<String, syn::Type>);
    impl VisitMut for Substitute<'_> {
        fn visit_type_mut(&mut self, ty: &mut syn::Type) {
            if let syn::Type::Path(tp) = ty
                && tp.qself.is_none()
                && tp.path.segments.len() == 1
                && let Some(target) = self.0.get(&tp.path.segments[0].ident.to_string())
            {
                *ty = target.clone();
                self.visit_type_mut(ty);
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    Substitute(&aliases).visit_file_mut(file);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALARS: &[Scalar] = &[
        Scalar {
            graphql: "Long",
            rust: "i64",
            read_with: Some("crate::long"),
        },
        Scalar {
            graphql: "Plain",
            rust: "u8",
            read_with: None,
        },
    ];

    fn attrs(file: &syn::File) -> Vec<String> {
        let mut out = Vec::new();
        struct Collect<'a>(&'a mut Vec<String>);
        impl VisitMut for Collect<'_> {
            fn visit_field_mut(&mut self, f: &mut syn::Field) {
                let name = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
                let attrs = &f.attrs;
                self.0
                    .push(format!("{name}: {}", quote::quote!(#(#attrs)*)));
            }
        }
        Collect(&mut out).visit_file_mut(&mut file.clone());
        out
    }

    #[test]
    fn large_inputs_of_optional_fields_become_sparse_and_others_stay_structs() {
        let texts: Vec<syn::Field> = (0..=BOX_ABOVE_FIELDS)
            .map(|i| {
                let name = format_ident!("text_{i}");
                let rename = format!("text{i}");
                syn::parse_quote!(#[doc = "a text"] #[serde(rename = #rename)] pub #name: Option<String>)
            })
            .collect();
        let mut file: syn::File = syn::parse_quote! {
            /// An input.
            #[derive(Serialize, bon::Builder)]
            pub struct ManyInput { #[serde(rename = "kind")] pub kind: Option<Kind>, #(#texts),* }
            #[derive(Serialize, bon::Builder)]
            pub struct RequiredInput { pub id: String, #(#texts),* }
            #[derive(Serialize)]
            pub struct Output { #(#texts),* }
        };
        store_large_inputs_sparsely(&mut file);
        let text = quote::quote!(#file).to_string();
        assert!(
            text.contains(
                "sparse_input ! { # [doc = r\" An input.\"] pub struct ManyInput , builder \
                 ManyInputBuilder , field Many { typed { kind / maybe_kind : Kind = \"kind\" , } \
                 text { # [doc = \"a text\"] text_0 / maybe_text_0 / Text0 = \"text0\" ,"
            ),
            "{text}"
        );
        assert!(text.contains("pub struct RequiredInput"), "{text}");
        assert!(text.contains("pub struct Output"), "{text}");
        assert_eq!(camel_case("r#class"), "Class");
        assert_eq!(camel_case("booking_value_pre_tax"), "BookingValuePreTax");
    }

    #[test]
    fn fields_of_large_structs_are_boxed_and_inputs_take_them_unboxed() {
        let fields: Vec<syn::Field> = (0..=BOX_ABOVE_FIELDS)
            .map(|i| {
                let name = format_ident!("f{i}");
                syn::parse_quote!(pub #name: Option<String>)
            })
            .collect();
        let large: syn::ItemStruct = syn::parse_quote!(pub struct Large { #(#fields),* });
        let mut file: syn::File = syn::parse_quote! {
            #large
            #[derive(bon::Builder)]
            pub struct Input { pub a: Option<Large>, pub b: Large, pub c: Option<String> }
            pub struct Output { pub a: Option<Large> }
            mod op { pub struct Small { pub s: String } }
        };
        box_large_fields(&mut file);
        let text = quote::quote!(#file).to_string();
        assert!(
            text.contains(
                "pub struct Input { # [builder (into)] pub a : Option < Box < Large > > , \
                 # [builder (into)] pub b : Box < Large > , pub c : Option < String > }"
            ),
            "{text}"
        );
        assert!(
            text.contains("pub struct Output { pub a : Option < Box < Large > > }"),
            "{text}"
        );
        assert!(
            text.contains("pub struct Small { pub s : String }"),
            "{text}"
        );
    }

    #[test]
    fn fields_of_a_scalar_with_a_reader_read_with_it() {
        let mut file: syn::File = syn::parse_quote! {
            struct Shared { a: Long, b: Option<Long>, c: Plain, d: Option<Plain>, e: String }
            mod op { struct Variables { f: Long } }
        };
        add_scalar_readers(&mut file, SCALARS).expect("readers");
        assert_eq!(
            attrs(&file),
            [
                r#"a: # [serde (deserialize_with = "crate::long::deserialize")]"#,
                r#"b: # [serde (default , deserialize_with = "crate::long::option")]"#,
                "c: ",
                "d: ",
                "e: ",
                r#"f: # [serde (deserialize_with = "crate::long::deserialize")]"#,
            ]
        );
    }

    #[test]
    fn a_scalar_with_a_reader_elsewhere_than_t_or_option_t_is_an_error() {
        let mut file: syn::File = syn::parse_quote! {
            struct Shared { ranks: Vec<Option<Long>>, plain: Vec<Plain> }
        };
        let err = add_scalar_readers(&mut file, SCALARS).expect_err("a list");
        assert_eq!(
            err.to_string(),
            "field `ranks: Vec < Option < Long > >`: Long has a reader for `T` and `Option<T>` only"
        );
    }

    fn overlay(json: &str) -> DocsOverlay {
        serde_json::from_str(json).expect("an overlay")
    }

    fn schema_info(sdl: &str) -> SchemaInfo {
        SchemaInfo::new(&s::parse_schema::<String>(sdl).expect("SDL"))
    }

    #[test]
    fn the_docs_overlay_describes_undescribed_input_fields_only() {
        let sdl = "input Order {\n  orderId: String!\n  \"CJ's own\"\n  sku: String\n}\n\
                   type Answer {\n  id: ID\n}\n";
        let mut info = schema_info(sdl);
        let docs = r#"{"about": [], "sources": [], "inputs": {"Order": {"orderId": "Yours."}}}"#;
        merge_docs_overlay(&mut info, overlay(docs)).expect("merged");
        assert_eq!(
            info.types["Order"].fields["orderId"].1.as_deref(),
            Some("Yours.")
        );
        assert_eq!(
            info.types["Order"].fields["sku"].1.as_deref(),
            Some("CJ's own")
        );

        for (inputs, error) in [
            (
                r#"{"Order": {"sku": "Mine."}}"#,
                "`Order.sku` has a description in the schema now: drop it here",
            ),
            (
                r#"{"Order": {"amount": "Gone."}}"#,
                "`Order.amount` is not in the schema",
            ),
            (
                r#"{"Answer": {"id": "Output."}}"#,
                "`Answer` is not an input type of the schema",
            ),
        ] {
            let docs = format!(r#"{{"about": [], "sources": [], "inputs": {inputs}}}"#);
            let merged = merge_docs_overlay(&mut schema_info(sdl), overlay(&docs));
            assert_eq!(merged, Err(error.to_string()));
        }
    }

    #[test]
    fn the_tracking_overlay_reaches_the_generated_docs() {
        let api = APIS
            .iter()
            .find(|a| a.name == "tracking")
            .expect("tracking");
        let code = generate(api).expect("generates");
        assert!(
            code.contains("    /// Your identifier of the order: \"Alphanumeric, dashes, and underscores only\""),
            "orderId's doc"
        );
        assert!(
            code.contains("(`orderId: String!`)"),
            "its signature follows"
        );
    }

    #[test]
    fn program_terms_fields_read_their_scalars_with_the_tables_readers() {
        let api = APIS
            .iter()
            .find(|a| a.name == "program_terms")
            .expect("program terms");
        let code = generate(api).expect("generates");
        for (reader, field) in [
            ("crate::scalars::long::deserialize", "pub rank: i64,"),
            (
                "crate::scalars::exact_decimal::deserialize",
                "pub value: Decimal,",
            ),
            (
                "crate::program_terms::iso_date_time::option",
                "pub start_time: Option<Instant>,",
            ),
        ] {
            assert!(
                code.contains(&format!("{reader}\")]\n    {field}")),
                "{field} reads with {reader}"
            );
        }
    }
}
