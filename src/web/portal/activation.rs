//! How a customer activates a machine: the vendor's download link and
//! instructions, or, for a product without a download (the demo), commands
//! to paste that do what an application does through the API.

use crate::services::catalog::ProductRow;
use crate::web::layout::Site;

/// A command with what it does, ready to copy.
pub struct Command {
    /// The element id of its `<pre>` (for its Copy button).
    pub id: &'static str,
    pub label: &'static str,
    pub text: String,
}

/// The activation step of the onboarding and license pages
/// (`templates/portal/_activation.html`).
pub struct ActivationHelp {
    pub product_name: String,
    pub download_url: Option<String>,
    /// The vendor's own words; empty for none.
    pub instructions: String,
    /// Shown when the product has no download link.
    pub commands: Vec<Command>,
    /// The commands hold a placeholder until the key is shown.
    pub key_shown: bool,
}

/// The fingerprint the example commands activate; an application sends
/// its own machine's.
const EXAMPLE_FINGERPRINT: &str = "my-first-machine";

impl ActivationHelp {
    /// `key` is the full key once the customer has shown it, else a
    /// placeholder ([`super::reveal::KeyView::for_commands`]).
    pub fn new(site: &Site, product: &ProductRow, key: &str, key_shown: bool) -> Self {
        let commands = if product.download_url.is_some() {
            Vec::new()
        } else {
            api_commands(site, &product.code, key)
        };
        Self {
            product_name: product.name.clone(),
            download_url: product.download_url.clone(),
            instructions: product.activation_instructions.trim().to_owned(),
            commands,
            key_shown,
        }
    }
}

/// curl calls to activate a machine and validate the license, as the
/// vendor's application would make them. The key is of `[A-Z0-9-]` (or a
/// placeholder of the same), so it is safe inside single quotes.
fn api_commands(site: &Site, product_code: &str, key: &str) -> Vec<Command> {
    let base = site.public_url.as_str().trim_end_matches('/');
    let key: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let code: String = product_code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let mut commands = vec![
        Command {
            id: "command-activate",
            label: "Activate a machine",
            text: format!(
                "curl -sS -X POST {base}/api/v1/machines/activate \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"key\": \"{key}\", \"fingerprint\": \"{EXAMPLE_FINGERPRINT}\", \"name\": \"My first machine\", \"product\": \"{code}\"}}'"
            ),
        },
        Command {
            id: "command-validate",
            label: "Check the license, as the application does at start-up",
            text: format!(
                "curl -sS -X POST {base}/api/v1/licenses/validate \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"key\": \"{key}\", \"fingerprint\": \"{EXAMPLE_FINGERPRINT}\", \"product\": \"{code}\"}}'"
            ),
        },
    ];
    commands.extend(library_snippets(base, &code, &key));
    commands
}

/// The same check in an application, with the client libraries
/// (docs/clients.md): the key set is the file of
/// `/.well-known/licensor-keys.json`, shipped with the application.
fn library_snippets(base: &str, code: &str, key: &str) -> [Command; 3] {
    [
        Command {
            id: "command-python",
            label: "In a Python application (licensor_client)",
            text: format!(
                "from licensor_client import Client, machine_fingerprint\n\n\
                 client = Client(\"{base}\", \"{code}\",\n                keys=open(\"licensor-keys.json\").read(),\n                state_path=\"license-state.json\")\n\
                 fingerprint = machine_fingerprint(\"{code}\")\n\
                 if client.validate(\"{key}\", fingerprint).code == \"NOT_ACTIVATED\":\n    client.activate(\"{key}\", fingerprint)\n\
                 print(client.validate(\"{key}\", fingerprint).code)"
            ),
        },
        Command {
            id: "command-typescript",
            label: "In a TypeScript or JavaScript application (@licensor/client)",
            text: format!(
                "import {{ readFileSync }} from \"node:fs\";\n\
                 import {{ Client, machineFingerprint }} from \"@licensor/client\";\n\n\
                 const client = new Client(\"{base}\", \"{code}\",\n  readFileSync(\"licensor-keys.json\", \"utf8\"), {{ statePath: \"license-state.json\" }});\n\
                 const fingerprint = machineFingerprint(\"{code}\");\n\
                 if ((await client.validate(\"{key}\", fingerprint)).code === \"NOT_ACTIVATED\") {{\n  await client.activate(\"{key}\", fingerprint);\n}}\n\
                 console.log((await client.validate(\"{key}\", fingerprint)).code);"
            ),
        },
        Command {
            id: "command-rust",
            label: "In a Rust application (licensor-client)",
            text: format!(
                "use licensor_client::{{Keys, blocking::Client, machine_fingerprint}};\n\n\
                 let keys = Keys::from_key_set_json(include_str!(\"licensor-keys.json\"))?;\n\
                 let client = Client::wrap(licensor_client::Client::new(\"{base}\", \"{code}\", keys)\n    .with_state_path(\"license-state.json\"))?;\n\
                 let fingerprint = machine_fingerprint(\"{code}\")?;\n\
                 if client.validate(\"{key}\", &fingerprint, &[])?.code == \"NOT_ACTIVATED\" {{\n    client.activate(\"{key}\", &fingerprint, None, None)?;\n}}\n\
                 println!(\"{{}}\", client.validate(\"{key}\", &fingerprint, &[])?.code);"
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(
            "Acme".to_owned(),
            url::Url::parse("https://licenses.example.com/").unwrap(),
            &crate::web::assets::Assets::new(),
        )
    }

    fn product(download_url: Option<&str>) -> ProductRow {
        ProductRow {
            id: "p".to_owned(),
            code: "demo-app".to_owned(),
            name: "Demo App".to_owned(),
            description: String::new(),
            activation_instructions: " Paste the key. ".to_owned(),
            download_url: download_url.map(str::to_owned),
            retired_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_product_without_a_download_gets_commands_with_the_key() {
        let help = ActivationHelp::new(&site(), &product(None), "ABCDE-12345", true);
        assert_eq!(help.commands.len(), 5);
        let activate = &help.commands[0].text;
        assert!(
            activate.starts_with(
                "curl -sS -X POST https://licenses.example.com/api/v1/machines/activate"
            )
        );
        assert!(activate.contains("\"key\": \"ABCDE-12345\""));
        assert!(activate.contains("\"product\": \"demo-app\""));
        assert_eq!(help.instructions, "Paste the key.");
        for (id, call) in [
            (
                "command-python",
                "client.validate(\"ABCDE-12345\", fingerprint)",
            ),
            (
                "command-typescript",
                "client.validate(\"ABCDE-12345\", fingerprint)",
            ),
            (
                "command-rust",
                "client.validate(\"ABCDE-12345\", &fingerprint, &[])",
            ),
        ] {
            let snippet = help.commands.iter().find(|c| c.id == id).unwrap();
            assert!(snippet.text.contains(call), "{}", snippet.text);
            assert!(
                snippet
                    .text
                    .contains("\"https://licenses.example.com\", \"demo-app\"")
            );
        }
    }

    #[test]
    fn a_product_with_a_download_gets_the_link_and_no_commands() {
        let help = ActivationHelp::new(
            &site(),
            &product(Some("https://acme.example/download")),
            "YOUR-LICENSE-KEY",
            false,
        );
        assert!(help.commands.is_empty());
        assert_eq!(
            help.download_url.as_deref(),
            Some("https://acme.example/download")
        );
    }

    #[test]
    fn nothing_but_key_characters_reaches_the_shell() {
        let help = ActivationHelp::new(&site(), &product(None), "A'; rm -rf / #", true);
        assert!(help.commands[0].text.contains("\"key\": \"Arm-rf\""));
    }
}
