//! The `aircall` contact source: Aircall's shared contacts, searched by
//! phone number (`GET /v1/contacts/search?phone_number=`).
//!
//! The request goes through the service's one Aircall client, so it
//! spends the company's request budget like any other and is never sent
//! when the budget cannot allow it before the lookup's deadline. Aircall
//! matches numbers its own way, so each returned contact's numbers are
//! normalised and the first contact that really has the caller's number
//! is used. Its fields: `id`, `first_name`, `last_name`, `name`,
//! `company_name`, `company` (the same), `description`, `information`,
//! `email` (the first one), `is_shared`.

use std::future::Future;
use std::pin::Pin;

use serde::Deserialize;
use tokio::time::Instant;

use crate::lang::{phone, Contact, Value};

/// The fields an Aircall contact gives rules.
pub const FIELDS: [&str; 10] = [
    "id",
    "first_name",
    "last_name",
    "name",
    "company_name",
    "company",
    "description",
    "information",
    "email",
    "is_shared",
];

/// A contact as the search endpoint returns it; everything optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApiContact {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub information: Option<String>,
    #[serde(default)]
    pub is_shared: Option<bool>,
    #[serde(default)]
    pub phone_numbers: Vec<LabeledValue>,
    #[serde(default)]
    pub emails: Vec<LabeledValue>,
}

/// `{id, label, value}` of a contact's numbers and e-mails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LabeledValue {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// The future a search returns.
pub type SearchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<ApiContact>, String>> + Send + 'a>>;

/// Searches Aircall's contacts by phone number (the Aircall client
/// implements it; tests may use a stand-in).
pub trait ContactSearch: Send + Sync + 'static {
    /// Contacts Aircall associates with `e164`; not sent at all when the
    /// budget cannot allow it before `deadline`.
    fn search_by_phone<'a>(&'a self, e164: &'a str, deadline: Instant) -> SearchFuture<'a>;
}

/// The first contact that has `e164` among its numbers, as fields.
pub fn pick(contacts: &[ApiContact], e164: &str, default_region: Option<&str>) -> Option<Contact> {
    let has_number = |contact: &&ApiContact| {
        contact.phone_numbers.iter().any(|number| {
            number
                .value
                .as_deref()
                .and_then(|raw| phone::normalize(raw, default_region))
                .is_some_and(|n| n.e164 == e164)
        })
    };
    contacts.iter().find(has_number).map(to_contact)
}

fn to_contact(api: &ApiContact) -> Contact {
    let mut contact = Contact::default();
    let text = |value: &Option<String>| match value.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Value::Text(text.to_owned()),
        _ => Value::Null,
    };
    if let Some(id) = api.id.and_then(|id| i64::try_from(id).ok()) {
        contact.insert("id", Value::Int(id));
    }
    contact.insert("first_name", text(&api.first_name));
    contact.insert("last_name", text(&api.last_name));
    let name: Vec<&str> = [&api.first_name, &api.last_name]
        .into_iter()
        .filter_map(|part| part.as_deref().map(str::trim).filter(|p| !p.is_empty()))
        .collect();
    contact.insert(
        "name",
        if name.is_empty() {
            Value::Null
        } else {
            Value::Text(name.join(" "))
        },
    );
    contact.insert("company_name", text(&api.company_name));
    contact.insert("company", text(&api.company_name));
    contact.insert("description", text(&api.description));
    contact.insert("information", text(&api.information));
    contact.insert(
        "email",
        text(&api.emails.iter().find_map(|e| e.value.clone())),
    );
    contact.insert("is_shared", api.is_shared.map_or(Value::Null, Value::Bool));
    contact
}

impl ContactSearch for crate::aircall::client::AircallClient {
    fn search_by_phone<'a>(&'a self, e164: &'a str, deadline: Instant) -> SearchFuture<'a> {
        Box::pin(async move {
            self.search_contacts::<ApiContact>(e164, Some(deadline))
                .await
                .map_err(|error| error.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_contact_with_the_number_is_used() {
        let contacts: Vec<ApiContact> = serde_json::from_str(
            r#"[{"id":1,"first_name":"Other","phone_numbers":[{"value":"+33 6 00 00 00 00"}]},
                {"id":2,"first_name":"Jane","last_name":"Doe","company_name":"ACME","is_shared":true,
                 "phone_numbers":[{"label":"Work","value":"+33 1 76 36 06 95"}],
                 "emails":[{"value":"jane@acme.example"}]}]"#,
        )
        .unwrap();
        let contact = pick(&contacts, "+33176360695", None).unwrap();
        assert_eq!(contact.get("id"), Some(&Value::Int(2)));
        assert_eq!(contact.get("name"), Some(&Value::Text("Jane Doe".into())));
        assert_eq!(contact.get("company"), Some(&Value::Text("ACME".into())));
        assert_eq!(
            contact.get("email"),
            Some(&Value::Text("jane@acme.example".into()))
        );
        assert_eq!(contact.get("is_shared"), Some(&Value::Bool(true)));
        assert_eq!(contact.get("description"), None);
        assert!(pick(&contacts, "+442071234567", None).is_none());
    }
}
