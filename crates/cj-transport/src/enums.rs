//! Enums that keep values this SDK does not know yet.
//!
//! CJ may add enum values at any time (and for Program Terms publishes no list at all). An enum
//! made with [`cj_enum!`] reads any text: a known value becomes its variant, anything else
//! becomes `Unknown(text)`, so one new value never fails a whole response.

/// What every enum of CJ's values offers, for code that handles any of them.
pub trait CjEnum {
    /// Every value this SDK knows, as CJ writes them.
    const KNOWN: &'static [&'static str];
    /// The text of a value this SDK does not know, or `None` for a known one.
    fn unknown(&self) -> Option<&str>;
}

/// Defines a `#[non_exhaustive]` enum of CJ's values with an `Unknown(String)` fallback, read and
/// written as CJ's exact text.
#[macro_export]
#[doc(hidden)]
macro_rules! cj_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $wire, "`")] $variant, )*
            /// A value this SDK does not know, kept as CJ sent it.
            Unknown(String),
        }

        impl $name {
            /// Every value this SDK knows, as CJ writes them.
            pub const KNOWN: &'static [&'static str] = &[$($wire),*];

            /// The text of a value this SDK does not know, or `None` for a known one.
            pub fn unknown(&self) -> Option<&str> {
                match self {
                    $name::Unknown(s) => Some(s.as_str()),
                    _ => None,
                }
            }

            /// The value as CJ writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unknown(s) => s.as_str(),
                }
            }
        }

        impl $crate::CjEnum for $name {
            const KNOWN: &'static [&'static str] = $name::KNOWN;
            fn unknown(&self) -> Option<&str> {
                $name::unknown(self)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $( $wire => $name::$variant, )*
                    other => $name::Unknown(other.to_string()),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                let Ok(value) = text.parse();
                Ok(value)
            }
        }
    };
}
