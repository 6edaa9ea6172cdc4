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
    /// Custom scalars whose Rust type has another name: (GraphQL scalar, Rust type in scope).
    /// Scalars not listed are a Rust type of the same name in the parent module.
    pub scalars: &'static [(&'static str, &'static str)],
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
            ("BigDecimal", "Decimal"),
            ("ISODateTime", "Instant"),
            ("Long", "i64"),
        ],
    },
];
