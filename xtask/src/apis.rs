//! The GraphQL APIs this project generates code for and refreshes schemas of: one list, read by
//! `cargo xtask codegen` and `cargo xtask schemas`.

/// One CJ GraphQL API.
#[derive(Debug)]
pub struct Api {
    /// The file stem in `schema/` and `queries/`, and the generated module's name.
    pub name: &'static str,
    /// Human-readable name for the schema file's header.
    pub title: &'static str,
    /// The GraphQL endpoint that answers introspection.
    pub endpoint: &'static str,
    /// Whether introspection is refused without `Authorization: Bearer <CJ_TOKEN>`.
    pub token_required: bool,
    /// Enums written by hand in `cj-graphql` (with an unknown-value fallback).
    pub extern_enums: &'static [&'static str],
    /// Custom scalars whose Rust type has another name. Scalars not listed are a Rust type of
    /// the same name in the parent module.
    pub scalars: &'static [Scalar],
}

/// A custom scalar read as a Rust type of another name.
#[derive(Debug)]
pub struct Scalar {
    /// The GraphQL scalar.
    pub graphql: &'static str,
    /// The Rust type in scope of the generated code.
    pub rust: &'static str,
    /// A module of `cj-graphql` whose `deserialize` (for `T`) and `option` (for `Option<T>`)
    /// read the scalar's fields (`#[serde(deserialize_with)]`), for a scalar that the Rust type's
    /// own `Deserialize` does not read as the API sends it; `None`: that `Deserialize`.
    pub read_with: Option<&'static str>,
}

/// Every API, in the order the tasks handle them.
pub const APIS: &[Api] = &[
    Api {
        name: "tracking",
        title: "CJ Tracking API",
        endpoint: "https://tracking.api.cj.com/graphql",
        token_required: false,
        extern_enums: &[
            "CorrectionReason",
            "OrderCancellationStatus",
            "OrderStatus",
            "VerticalType",
        ],
        scalars: &[],
    },
    Api {
        name: "program_terms",
        title: "CJ Program Terms API",
        endpoint: "https://programs.api.cj.com/query",
        token_required: true,
        extern_enums: &[
            "ActionTrackerType",
            "CommissionRateType",
            "ContractStatus",
            "LockingMethodType",
            "PerformanceIncentiveRewardCommissionType",
            "PerformanceIncentiveRewardType",
            "PerformanceIncentiveThresholdType",
        ],
        scalars: &[
            // Exact from JSON numbers, which `Decimal`'s own `Deserialize` reads through f64.
            Scalar {
                graphql: "BigDecimal",
                rust: "Decimal",
                read_with: Some("crate::scalars::exact_decimal"),
            },
            // Also without a zone (as UTC), which CJ sends here; Tracking's `Instant` is strict.
            Scalar {
                graphql: "ISODateTime",
                rust: "Instant",
                read_with: Some("crate::program_terms::iso_date_time"),
            },
            // A number or a string of digits.
            Scalar {
                graphql: "Long",
                rust: "i64",
                read_with: Some("crate::scalars::long"),
            },
        ],
    },
    Api {
        name: "commission_detail",
        title: "CJ Commission Detail API",
        endpoint: "https://commissions.api.cj.com/query",
        token_required: false,
        extern_enums: &["CorrectionReason", "LockingMethod", "ValidationStatus"],
        // `ActionStatus`, `ActionType` and `Instant` are types of the same name in
        // `cj_graphql::commissions`.
        scalars: &[
            // Signed (corrections are negative), exact from a string or a JSON number.
            Scalar {
                graphql: "DecimalNumber",
                rust: "Decimal",
                read_with: Some("crate::scalars::exact_decimal"),
            },
        ],
    },
];
