//! What the client keeps on disk for offline grace, in the file format the
//! Python and TypeScript clients share: the last signed VALID answer and
//! the last machine file of one license on one machine, and the latest
//! time seen. Everything in it is verified again when read.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

const FORMAT: u32 = 1;

/// A license key as the server reads it: a Licensor key without spaces or
/// dashes, upper case, O read as 0 and I, L as 1; a vendor's own key as
/// given, trimmed.
pub fn canonical_key(key: &str) -> String {
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '-'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    let crockford = |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c));
    if folded.chars().count() == 25 && folded.chars().all(crockford) {
        folded
    } else {
        key.trim().to_owned()
    }
}

pub(crate) fn key_digest(key: &str) -> String {
    Sha256::digest(canonical_key(key).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An answer exactly as it came: its body and the headers its signature
/// covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SignedAnswer {
    /// Standard base64 of the body bytes.
    pub body: String,
    pub request_id: String,
    pub date: String,
    pub signature: String,
}

impl SignedAnswer {
    pub fn new(body: &[u8], request_id: &str, date: &str, signature: &str) -> Self {
        Self {
            body: STANDARD.encode(body),
            request_id: request_id.to_owned(),
            date: date.to_owned(),
            signature: signature.to_owned(),
        }
    }

    pub fn body(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.body).ok()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OfflineState {
    pub format: u32,
    pub key_digest: String,
    pub fingerprint: String,
    pub latest_seen: i64,
    pub answer: Option<SignedAnswer>,
    pub machine_file: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The state of this license on this machine; an empty one when the
    /// file is missing, unreadable or about another license or machine
    /// (the latest time seen is kept whatever the license).
    pub fn load(&self, key: &str, fingerprint: &str) -> OfflineState {
        let digest = key_digest(key);
        let empty = |latest_seen| OfflineState {
            format: FORMAT,
            key_digest: digest.clone(),
            fingerprint: fingerprint.to_owned(),
            latest_seen,
            answer: None,
            machine_file: None,
        };
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return empty(0);
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            return empty(0);
        };
        let latest = value["latest_seen"].as_i64().unwrap_or(0);
        match serde_json::from_value::<OfflineState>(value) {
            Ok(state)
                if state.format == FORMAT
                    && state.key_digest == digest
                    && state.fingerprint == fingerprint =>
            {
                state
            }
            _ => empty(latest),
        }
    }

    /// Writes the state whole: a temporary file beside it, renamed over it.
    pub fn save(&self, state: &OfflineState) -> Result<(), Error> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::state(format!("cannot create {}: {e}", dir.display())))?;
        let text = serde_json::to_string(state)
            .map_err(|e| Error::state(format!("cannot write the state: {e}")))?;
        let tmp = dir.join(format!(".licensor-{}.tmp", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut file| {
            use std::io::Write;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
        written
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::state(format!("cannot write {}: {e}", self.path.display()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_key;

    #[test]
    fn keys_are_read_as_the_server_reads_them() {
        assert_eq!(
            canonical_key("44gj2-89144-gj289-144gj-28914"),
            "44GJ289144GJ289144GJ28914"
        );
        assert_eq!(canonical_key(" VENDOR-key-42 "), "VENDOR-key-42");
    }
}
