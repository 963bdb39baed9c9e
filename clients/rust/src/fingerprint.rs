//! A stable per-machine id for activations, hashed with the application's
//! id so it is never the raw operating-system id (the same value as the
//! Python and TypeScript clients make).

use sha2::{Digest, Sha256};

use crate::Error;

/// The same in every Licensor client library.
pub const FINGERPRINT_DOMAIN: &str = "licensor-fingerprint-v1";

/// SHA-256 (hex) of the domain, the app id and the machine id (trimmed,
/// lower case), one per line.
pub fn fingerprint_of(app_id: &str, machine_id: &str) -> String {
    let text = format!(
        "{FINGERPRINT_DOMAIN}\n{app_id}\n{}",
        machine_id.trim().to_lowercase()
    );
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The operating system's id of this machine: Linux `/etc/machine-id` (or
/// D-Bus's), macOS `IOPlatformUUID`, Windows `MachineGuid`.
pub fn os_machine_id() -> Result<String, Error> {
    let found = if cfg!(target_os = "macos") {
        std::process::Command::new("ioreg")
            .args(["-rd1", "-c", "IOPlatformExpertDevice"])
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let line = text.lines().find(|l| l.contains("\"IOPlatformUUID\""))?;
                line.rsplit('"').nth(1).map(str::to_owned)
            })
    } else if cfg!(windows) {
        std::process::Command::new("reg")
            .args([
                "query",
                r"HKLM\SOFTWARE\Microsoft\Cryptography",
                "/v",
                "MachineGuid",
                "/reg:64",
            ])
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let line = text.lines().find(|l| l.contains("MachineGuid"))?;
                line.split_whitespace().last().map(str::to_owned)
            })
    } else {
        ["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostid"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| text.trim().to_owned())
            .find(|text| !text.is_empty())
    };
    found.ok_or_else(|| Error::state("no machine id on this system: pass one to fingerprint_of"))
}

/// This machine's fingerprint for `app_id`.
pub fn machine_fingerprint(app_id: &str) -> Result<String, Error> {
    Ok(fingerprint_of(app_id, &os_machine_id()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_client_makes_the_same_fingerprint() {
        assert_eq!(
            super::fingerprint_of("my-app", " ABC123\n"),
            "a7168b3d885621b796e68aae37ed3119a1599d03a1549c819f0e2b0177ec8f9f"
        );
    }
}
