//! Typed CJ Affiliate GraphQL operations, generated from CJ's schema.
//!
//! - [`tracking`]: the Tracking API, with `createOrders`, `restateOrders` and `cancelOrders`.
//! - [`program_terms`]: the Program Terms API (contracts and commission rates), and which rate
//!   applies to an order.
//! - [`commissions`]: the Commission Detail API: every commission CJ recorded, with its
//!   corrections, within CJ's call limits.
//! - [`reconcile`]: which orders sent to the Tracking API CJ recorded, and how.
//! - [`raw`]: a GraphQL document of your own, sent through the same transport.
//!
//! Each API is a Cargo feature of the same name (`tracking`, `program-terms`, `commissions`,
//! and `reconcile`, which needs the first and the last), all on by default: a dependent that
//! turns the defaults off compiles only the generated code of the APIs it names.
//! [`program_terms::estimate`] takes a Tracking order, so it also needs `tracking`.
//!
//! # Design note: how the types are generated
//!
//! The operations are generated with graphql_client 0.16 from `schema/*.graphql` and
//! `queries/*/`, by `cargo xtask codegen`, and the result is checked in under `src/generated/`
//! (CI fails when it is stale: `cargo xtask codegen --check`). Two reasons:
//!
//! - graphql_client puts a separate copy of every input and response type in each operation's
//!   module, with path-like names (`create_orders::OrderItemInput`,
//!   `restate_orders::OrderItemInput`, `CreateOrdersCreateOrdersOrders`). Users build one
//!   `OrderItemInput` and pass it to a create or a restate, so the xtask normalizes the
//!   output: each query selects every object through a fragment named after its CJ type
//!   (`...Order`, `...OrderItem`), and every type named after a schema type is hoisted out of the
//!   operation modules into one shared definition (the xtask fails if two operations would
//!   generate it differently). Path-like names stay private to the operation modules.
//! - The same step adds what the derive cannot: rustdoc from the schema's descriptions,
//!   `bon` builders for the inputs, a sparse `VerticalParametersInput` (115 optional fields,
//!   of which it stores those set: `tracking/sparse.rs`),
//!   `#[non_exhaustive]`, and strict parsing of inputs (unknown fields are refused). Checked-in
//!   code also spares every build the proc-macro's schema parsing.
//!
//! Enums are written by hand with `cj_transport::cj_enum!` so that a value CJ adds later is kept as
//! `Unknown(text)` instead of failing a response (and because graphql_client's own fallback
//! variant, `Other`, clashes with `CorrectionReason::Other`). The custom scalars are in
//! [`scalars`].

#![cfg_attr(docsrs, feature(doc_cfg))]
// Links to the APIs a build leaves out cannot resolve: the default build (and docs.rs, with
// every feature) checks them.
#![cfg_attr(
    not(all(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions",
        feature = "reconcile"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

// One feature per API: a dependent compiles only the generated code of the APIs it uses.
#[cfg(feature = "commissions")]
#[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
pub mod commissions;
#[cfg(feature = "tracking")]
#[doc(hidden)]
pub mod fuzz;
mod graphql;
#[cfg(feature = "program-terms")]
#[cfg_attr(docsrs, doc(cfg(feature = "program-terms")))]
pub mod program_terms;
pub mod raw;
#[cfg(feature = "reconcile")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconcile")))]
pub mod reconcile;
pub mod scalars;
#[cfg(feature = "tracking")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
pub mod tracking;

pub use cj_transport as transport;
