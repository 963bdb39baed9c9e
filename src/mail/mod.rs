//! Sending email: SMTP through lettre, or `.eml` files in `data/mail/` (the
//! embedded default). Messages are rendered when they are enqueued in the
//! outbox; this module only turns one into a multipart message and sends it.

pub mod templates;

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// A rendered message as the outbox stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Stable per outbox row, so a message delivered twice is recognisable.
    pub message_id: String,
    /// Reminders: the one-click unsubscribe URL, sent as `List-Unsubscribe`
    /// with `List-Unsubscribe-Post` (RFC 8058).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Where mail goes and who it is from.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::File(_, dir) => format!("file:{}", dir.display()),
        };
        f.debug_struct("Mailer")
            .field("transport", &kind)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`, `smtp://host:25`), else files in `mail_dir`.
    pub fn new(
        smtp_url: Option<&str>,
        mail_dir: PathBuf,
        from: &str,
        reply_to: Option<&str>,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("mail_from `{from}` is not a mailbox"))?;
        let reply_to = reply_to
            .map(|r| {
                r.parse::<Mailbox>()
                    .with_context(|| format!("mail_reply_to `{r}` is not a mailbox"))
            })
            .transpose()?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("smtp_url is not a usable SMTP URL")?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&mail_dir).with_context(|| {
                    format!("cannot create mail directory {}", mail_dir.display())
                })?;
                Transport::File(AsyncFileTransport::new(&mail_dir), mail_dir)
            }
        };
        Ok(Self {
            transport,
            from,
            reply_to,
        })
    }

    /// The multipart/alternative message for an email.
    pub fn build(&self, email: &Email) -> anyhow::Result<Message> {
        let to: Mailbox = email
            .to
            .parse()
            .with_context(|| "the recipient is not a mailbox".to_owned())?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(email.message_id.clone()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(url) = &email.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .context("building the message")
    }

    pub async fn send(&self, email: &Email) -> anyhow::Result<()> {
        let message = self.build(email)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("SMTP delivery failed")?;
            }
            Transport::File(file, _) => {
                file.send(message)
                    .await
                    .context("writing the mail file failed")?;
            }
        }
        Ok(())
    }
}
