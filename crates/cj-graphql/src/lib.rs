//! Typed CJ Affiliate GraphQL operations, generated from CJ's schema.
//!
//! - [`tracking`]: the Tracking API, with `createOrders`, `restateOrders` and `cancelOrders`.
//! - [`program_terms`]: the Program Terms API (contracts and commission rates), and which rate
//!   applies to an order.
//! - [`commissions`]: the Commission Detail API: every commission CJ recorded, with its
//!   corrections, within CJ's call limits.
//! - [`reconcile`]: which orders sent to the Tracking API CJ recorded, and how.
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
//!   `bon` builders for the inputs (`VerticalParametersInput` has 115 fields),
//!   `#[non_exhaustive]`, and strict parsing of inputs (unknown fields are refused). Checked-in
//!   code also spares every build the proc-macro's schema parsing.
//!
//! Enums are written by hand with `cj_transport::cj_enum!` so that a value CJ adds later is kept as
//! `Unknown(text)` instead of failing a response (and because graphql_client's own fallback
//! variant, `Other`, clashes with `CorrectionReason::Other`). The custom scalars are in
//! [`scalars`].

pub mod commissions;
#[doc(hidden)]
pub mod fuzz;
mod graphql;
pub mod program_terms;
pub mod reconcile;
pub mod scalars;
pub mod tracking;

pub use cj_transport as transport;
