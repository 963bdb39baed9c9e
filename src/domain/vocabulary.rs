//! Words stored as text: each is an enum here, read back in `store/` with
//! `#[sqlx(try_from = "String")]`, so a typo does not compile and a value
//! the code does not know is an error when read, never a silent default.

/// The error of reading a word the code does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {what} ({known})")]
pub struct UnknownWord {
    pub value: String,
    pub what: &'static str,
    pub known: String,
}

/// Declares an enum stored as text, with `ALL`, `as_str`, `Display`,
/// `FromStr` and `TryFrom<String>` (the error is [`UnknownWord`]).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::vocabulary::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::vocabulary::UnknownWord {
                        value: other.to_owned(),
                        what: $what,
                        known: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::vocabulary::UnknownWord;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    text_enum! {
        /// A test word.
        enum Colour ("a colour") {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn words_read_back_and_unknown_ones_are_named() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(*colour));
        }
        assert_eq!(Colour::DarkBlue.to_string(), "dark_blue");
        let err = Colour::try_from("Red".to_owned()).unwrap_err();
        assert_eq!(err.to_string(), "`Red` is not a colour (red, dark_blue)");
    }
}
