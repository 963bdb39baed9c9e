//! Raw setting values as given, each with where it came from, layered
//! defaults < file < environment; and the typed read of one setting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::table::{self, Exposure, Fallback, KNOWN, Setting};
use super::{ConfigError, Source};

/// Environment variables with the prefix that are not settings: the
/// configuration file (`--config`) and `licensor verify`'s `--license-key`.
const ENV_NOT_SETTINGS: &[&str] = &["LICENSOR_CONFIG", "LICENSOR_VERIFY_LICENSE_KEY"];

/// Raw values by key, each with where it came from.
#[derive(Default, Clone)]
pub struct RawSettings {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(key, (value, source))| {
                let secret = table::find(key).is_some_and(|k| k.exposure != Exposure::Plain);
                let shown = if secret { "[redacted]" } else { value.as_str() };
                (key, (shown, source))
            }))
            .finish()
    }
}

fn known_key(key: &str, source: &Source) -> Result<&'static str, ConfigError> {
    table::find(key)
        .map(|k| k.key)
        .ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_owned(),
            origin: source.clone(),
            known: KNOWN.iter().map(|k| k.key).collect::<Vec<_>>().join(", "),
        })
}

/// A TOML value as the text its parser reads.
fn toml_text(value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        // A list of numbers, e.g. `expiry_notice_days = [30, 7, 1]`.
        toml::Value::Array(items) if items.iter().all(toml::Value::is_integer) => Ok(items
            .iter()
            .filter_map(toml::Value::as_integer)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")),
        other => Err(format!(
            "expected a string or a number, found {}",
            other.type_str()
        )),
    }
}

impl RawSettings {
    /// Layers a TOML document over the values so far.
    pub fn merge_toml(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let document: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    reason: e.message().to_owned(),
                })?;
        let source = Source::File(path.to_owned());
        for (key, value) in document {
            let key = known_key(&key, &source)?;
            let invalid = |reason: String| ConfigError::Invalid {
                key,
                origin: source.clone(),
                reason,
            };
            if table::find(key).is_some_and(|k| k.exposure == Exposure::EnvironmentOnlySecret) {
                let instead = if key == "secret" {
                    ", or use secret_file"
                } else {
                    ""
                };
                return Err(invalid(format!(
                    "a secret is not kept in a configuration file: set LICENSOR_{} in the environment{instead}",
                    key.to_ascii_uppercase()
                )));
            }
            let text = toml_text(value).map_err(invalid)?;
            self.values.insert(key, (text, source.clone()));
        }
        Ok(())
    }

    /// Layers `LICENSOR_*` variables over the values so far.
    pub fn merge_env<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let Some(suffix) = name.strip_prefix("LICENSOR_") else {
                continue;
            };
            if ENV_NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let source = Source::Env(name.clone());
            let key = known_key(&suffix.to_ascii_lowercase(), &source)?;
            self.values.insert(key, (value, source));
        }
        Ok(())
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<String>, source: Source) {
        self.values.insert(key, (value.into(), source));
    }

    pub(super) fn is_given(&self, key: &'static str) -> bool {
        self.values.contains_key(key)
    }

    /// Where a setting's value comes from.
    pub(super) fn origin(&self, key: &'static str) -> Source {
        self.values
            .get(key)
            .map_or(Source::Default, |(_, source)| source.clone())
    }

    /// A setting's value, given or its fallback; a derived fallback is the
    /// empty text here (use `derived` for those settings).
    pub(super) fn value<T>(&self, setting: &Setting<T>) -> Result<T, ConfigError> {
        self.derived(setting, String::new)
    }

    /// A setting's value, given or else computed by `derive` when its
    /// fallback is `Derived`. Fallbacks go through the same parser, so a
    /// derived default is checked like a given value.
    pub(super) fn derived<T>(
        &self,
        setting: &Setting<T>,
        derive: impl FnOnce() -> String,
    ) -> Result<T, ConfigError> {
        let (text, origin) = match self.values.get(setting.key) {
            Some((value, source)) => (value.trim().to_owned(), source.clone()),
            None => {
                let text = match setting.fallback {
                    Fallback::Value(v) => v.to_owned(),
                    Fallback::Unset(_) => String::new(),
                    Fallback::Derived(_) => derive(),
                };
                (text, Source::Default)
            }
        };
        (setting.parse)(&text).map_err(|reason| ConfigError::Invalid {
            key: setting.key,
            origin,
            reason,
        })
    }

    /// An error about a setting whose value parsed but does not fit the
    /// others.
    pub(super) fn invalid(&self, key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key,
            origin: self.origin(key),
            reason: reason.into(),
        }
    }
}
