//! How an application checks its license with licensor-client: validate
//! online (activating this machine the first time), fall back to the kept
//! offline grace when the server is out of reach.
//!
//! ```text
//! cargo run -p licensor-client --example check_license -- \
//!     https://licenses.example.com my-app licensor-keys.json XXXXX-XXXXX-XXXXX-XXXXX-XXXXX
//! ```
//!
//! Exit status: 0 licensed, 1 not licensed, 2 no verdict.

use std::process::ExitCode;

use licensor_client::{Keys, blocking::Client, machine_fingerprint};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, product, keys_path, key] = args.as_slice() else {
        eprintln!("usage: check_license SERVER PRODUCT KEYS_JSON LICENSE_KEY");
        return ExitCode::from(2);
    };
    match check(server, product, keys_path, key) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("no verdict: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(
    server: &str,
    product: &str,
    keys_path: &str,
    key: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let keys = Keys::from_key_set_json(&std::fs::read_to_string(keys_path)?)?;
    let state = std::env::temp_dir().join("licensor-example-state.json");
    let async_client = licensor_client::Client::new(server, product, keys).with_state_path(state);
    let client = Client::wrap(async_client)?;
    let fingerprint = machine_fingerprint(product)?;
    let mut result = client.validate(key, &fingerprint, &[])?;
    if result.code == "NOT_ACTIVATED" {
        client.activate(key, &fingerprint, Some("this machine"), None)?;
        result = client.validate(key, &fingerprint, &[])?;
    }
    if result.valid {
        match result.deadline.filter(|_| result.offline) {
            Some(deadline) => println!("licensed (offline until {deadline})"),
            None => println!("licensed (online)"),
        }
    } else {
        let url = result.next_action.and_then(|a| a.url).unwrap_or_default();
        println!("not licensed: {} {url}", result.detail);
    }
    Ok(result.valid)
}
