//! Job arguments as the dashboard shows them: every value under a key that names a
//! secret (password, token, key, credential, ...) is replaced, at any depth. Job arguments
//! of this scheduler hold ids and stages only, but the queue is generic and a handler may
//! one day be given a credential.

use serde_json::Value;

/// What a redacted value is shown as.
pub const REDACTED: &str = "***";

/// Key fragments that mark a value as secret (compared lowercase, ignoring `-` and `_`).
const SECRET_WORDS: [&str; 11] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "sshkey",
    "authorization",
    "cookie",
];

/// Whether a key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    folded == "key" || SECRET_WORDS.iter().any(|word| folded.contains(word))
}

/// A copy of `value` with secret values replaced by [`REDACTED`].
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| {
                    let shown = if is_secret_key(key) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redacted(inner)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_replaced_at_any_depth() {
        let args = json!({
            "livelesson": "abcde12345",
            "stage": 1,
            "password": "hunter2",
            "auth": { "apiToken": "t0k3n", "user": "admin" },
            "hosts": [ { "name": "r1", "ssh_private_key": "-----BEGIN" } ],
            "Client-Secret": { "nested": "whole object hidden" },
            "key": "plain-key"
        });
        let shown = redacted(&args);
        let text = shown.to_string();
        for secret in [
            "hunter2",
            "t0k3n",
            "-----BEGIN",
            "whole object hidden",
            "plain-key",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert_eq!(shown["livelesson"], "abcde12345");
        assert_eq!(shown["stage"], 1);
        assert_eq!(shown["auth"]["user"], "admin");
        assert_eq!(shown["auth"]["apiToken"], REDACTED);
        assert_eq!(shown["hosts"][0]["name"], "r1");
    }

    #[test]
    fn ordinary_keys_are_kept() {
        for key in ["livelesson", "stage", "kind", "keyboard_layout"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
