//! Inputs of many optional text fields stored sparsely: `VerticalParametersInput` has 115
//! fields, and an order usually sets a handful. Stored as a struct of 115 `Option<String>`s it
//! takes 2.8 KB per order and its encoding checks every field; stored as a list of the fields
//! set, it takes what it holds and encodes in one step per field set.
//!
//! `cargo xtask codegen` writes one [`sparse_input!`] per such input, from the schema; the
//! macro gives it the API of the other generated inputs: a builder with a setter per field,
//! and a getter per field.

/// Defines a sparse input: the struct, its field enum, its builder, getters and setters,
/// `Serialize` (the fields set, typed ones first, then the text ones in schema order) and
/// `Deserialize` (unknown and repeated fields refused, as for the derived inputs; `null` is a
/// field not set).
macro_rules! sparse_input {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, builder $builder:ident, field $field:ident {
            typed { $( $(#[$tdoc:meta])* $typed:ident / $tmaybe:ident : $tty:ty = $tname:literal, )* }
            text { $( $(#[$doc:meta])* $text:ident / $maybe:ident / $variant:ident = $gname:literal, )* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Default)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$tdoc])*
                pub $typed: Option<$tty>,
            )*
            #[doc = concat!("The text fields set, in the order of [`", stringify!($field), "`]; no field twice.")]
            texts: Vec<($field, String)>,
        }

        #[doc = concat!("A text field of [`", stringify!($name), "`], in schema order.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum $field {
            $(
                $(#[$doc])*
                $variant,
            )*
        }

        impl $field {
            /// Every field, in schema order.
            pub const ALL: &'static [$field] = &[$($field::$variant),*];

            /// The field's GraphQL name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($field::$variant => $gname,)*
                }
            }

            /// The field of a GraphQL name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($gname => Some($field::$variant),)*
                    _ => None,
                }
            }
        }

        impl $name {
            /// Every GraphQL field name, typed fields first.
            const FIELD_NAMES: &'static [&'static str] = &[$($tname,)* $($gname,)*];
            /// The `u64`s of a bit per text field.
            const SEEN_WORDS: usize = $field::ALL.len().div_ceil(64);

            #[doc = concat!("A builder of [`", stringify!($name), "`], a setter per field.")]
            pub fn builder() -> $builder {
                $builder { value: $name::default() }
            }

            /// The value of a text field, if set.
            pub fn get(&self, field: $field) -> Option<&str> {
                self.texts
                    .binary_search_by_key(&field, |(f, _)| *f)
                    .ok()
                    .and_then(|at| self.texts.get(at))
                    .map(|(_, value)| value.as_str())
            }

            /// Sets a text field (`None` clears it).
            pub fn set(&mut self, field: $field, value: Option<String>) {
                let at = self.texts.binary_search_by_key(&field, |(f, _)| *f);
                match (at, value) {
                    (Ok(at), Some(value)) => {
                        if let Some(slot) = self.texts.get_mut(at) {
                            slot.1 = value;
                        }
                    }
                    (Ok(at), None) => {
                        self.texts.remove(at);
                    }
                    (Err(at), Some(value)) => self.texts.insert(at, (field, value)),
                    (Err(_), None) => {}
                }
            }

            /// The text fields set, in schema order.
            pub fn texts(&self) -> impl ExactSizeIterator<Item = ($field, &str)> + '_ {
                self.texts.iter().map(|(f, v)| (*f, v.as_str()))
            }

            /// Whether no field is set.
            pub fn is_empty(&self) -> bool {
                self.texts.is_empty() $(&& self.$typed.is_none())*
            }

            $(
                $(#[$doc])*
                pub fn $text(&self) -> Option<&str> {
                    self.get($field::$variant)
                }
            )*
        }

        #[doc = concat!("The builder of [`", stringify!($name), "`]: a setter per field (and a `maybe_` one taking an `Option`), then `build()`.")]
        #[derive(Clone, Debug, Default)]
        #[must_use]
        pub struct $builder {
            value: $name,
        }

        impl $builder {
            $(
                $(#[$tdoc])*
                pub fn $typed(mut self, value: $tty) -> Self {
                    self.value.$typed = Some(value);
                    self
                }

                #[doc = concat!("Sets `", $tname, "` if `value` is `Some`.")]
                pub fn $tmaybe(mut self, value: Option<$tty>) -> Self {
                    self.value.$typed = value;
                    self
                }
            )*
            $(
                $(#[$doc])*
                pub fn $text(mut self, value: impl Into<String>) -> Self {
                    self.value.set($field::$variant, Some(value.into()));
                    self
                }

                #[doc = concat!("Sets `", $gname, "` if `value` is `Some`.")]
                pub fn $maybe(mut self, value: Option<impl Into<String>>) -> Self {
                    self.value.set($field::$variant, value.map(Into::into));
                    self
                }
            )*

            #[doc = concat!("Sets a text field by its [`", stringify!($field), "`] (`None` leaves it unset).")]
            pub fn field(mut self, field: $field, value: Option<impl Into<String>>) -> Self {
                self.value.set(field, value.map(Into::into));
                self
            }

            #[doc = concat!("The [`", stringify!($name), "`].")]
            pub fn build(self) -> $name {
                self.value
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // Only what is set: 115 `None`s say nothing.
                let mut out = f.debug_struct(stringify!($name));
                $(
                    if let Some(value) = &self.$typed {
                        out.field(stringify!($typed), value);
                    }
                )*
                for (field, value) in &self.texts {
                    out.field(field.name(), value);
                }
                out.finish()
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if let Some(value) = &self.$typed {
                        map.serialize_entry($tname, value)?;
                    }
                )*
                for (field, value) in &self.texts {
                    map.serialize_entry(field.name(), value)?;
                }
                map.end()
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                /// A field name, read without an allocation.
                #[allow(non_camel_case_types)]
                enum Key {
                    $($typed,)*
                    Text($field),
                }
                impl<'de> ::serde::Deserialize<'de> for Key {
                    fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
                        struct KeyVisitor;
                        impl ::serde::de::Visitor<'_> for KeyVisitor {
                            type Value = Key;

                            fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                                f.write_str("a field name")
                            }

                            fn visit_str<E: ::serde::de::Error>(self, name: &str) -> Result<Key, E> {
                                match name {
                                    $($tname => Ok(Key::$typed),)*
                                    other => $field::from_name(other)
                                        .map(Key::Text)
                                        .ok_or_else(|| E::unknown_field(other, $name::FIELD_NAMES)),
                                }
                            }
                        }
                        deserializer.deserialize_identifier(KeyVisitor)
                    }
                }

                struct Visitor;
                impl<'de> ::serde::de::Visitor<'de> for Visitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("an object of ", stringify!($name), "'s fields"))
                    }

                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        use ::serde::de::Error as _;
                        let mut value = $name::default();
                        // The text fields seen, `null` ones included: one bit each.
                        let mut seen = [0u64; $name::SEEN_WORDS];
                        $(
                            #[allow(non_snake_case)]
                            let mut $typed = false;
                        )*
                        let duplicate = |name: &str| A::Error::custom(format_args!("duplicate field `{name}`"));
                        while let Some(key) = map.next_key::<Key>()? {
                            match key {
                                $(
                                    Key::$typed => {
                                        if ::std::mem::replace(&mut $typed, true) {
                                            return Err(duplicate($tname));
                                        }
                                        value.$typed = map.next_value()?;
                                    }
                                )*
                                Key::Text(field) => {
                                    let (word, bit) = (field as usize / 64, 1u64 << (field as usize % 64));
                                    match seen.get_mut(word) {
                                        Some(w) if *w & bit == 0 => *w |= bit,
                                        _ => return Err(duplicate(field.name())),
                                    }
                                    let text: Option<String> = map.next_value()?;
                                    if let Some(text) = text {
                                        // Read in schema order (the usual case): appended.
                                        if value.texts.last().is_none_or(|(last, _)| *last < field) {
                                            value.texts.push((field, text));
                                        } else {
                                            value.set(field, Some(text));
                                        }
                                    }
                                }
                            }
                        }
                        Ok(value)
                    }
                }
                deserializer.deserialize_map(Visitor)
            }
        }
    };
}
