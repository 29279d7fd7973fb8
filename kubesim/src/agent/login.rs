//! Which login the SSH server of each simulated image accepts.
//!
//! A curriculum declares an image's `sshUser` and `sshPassword`, but nothing carries them
//! to the pod: on a real cluster they are baked into the image (the original antidote
//! images all log in as `antidote` / `antidotepassword`), and the scheduler puts no
//! credential into the pod spec, where anyone allowed to read pods would see it. So the
//! simulator keeps them where the real cluster does, with the image: a table of image
//! globs, filled by whoever knows the curriculum (`antidoted demo` registers each of its
//! images), and the original images' fixed login for every image no rule names.

use std::sync::{Arc, Mutex};

use crate::knobs::glob_match;

/// The user of the original antidote images.
pub const DEFAULT_USER: &str = "antidote";
/// The password of the original antidote images.
pub const DEFAULT_PASSWORD: &str = "antidotepassword";

/// One user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    user: String,
    password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Default for Login {
    fn default() -> Self {
        Self::new(DEFAULT_USER, DEFAULT_PASSWORD)
    }
}

impl Login {
    /// A login of `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether `user` and `password` are this login. Both are compared whole, without
    /// stopping at the first difference, so timing tells nothing about either.
    pub fn accepts(&self, user: &str, password: &str) -> bool {
        let user_ok = same_bytes(self.user.as_bytes(), user.as_bytes());
        let password_ok = same_bytes(self.password.as_bytes(), password.as_bytes());
        user_ok & password_ok
    }
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut differ = u8::from(a.len() != b.len());
    for i in 0..longest {
        differ |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    differ == 0
}

/// The image-to-login table, shared by the knobs handle and the agents that use it.
#[derive(Debug, Clone, Default)]
pub struct Logins {
    rules: Arc<Mutex<Vec<(String, Login)>>>,
}

impl Logins {
    /// Pods whose image matches `glob` (`*`, `?`) accept `login`; a later rule for an
    /// image wins over an earlier one.
    pub fn set_image(&self, glob: &str, login: Login) {
        super::lock(&self.rules).push((glob.to_owned(), login));
    }

    /// The login of a pod whose containers run `images` (the first image that a rule
    /// names decides), or the original images' fixed login.
    pub fn for_images(&self, images: &[String]) -> Login {
        let rules = super::lock(&self.rules);
        images
            .iter()
            .find_map(|image| {
                rules
                    .iter()
                    .rev()
                    .find(|(glob, _)| glob_match(glob, image))
                    .map(|(_, login)| login.clone())
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_images_log_in_as_the_original_images_did() {
        let logins = Logins::default();
        logins.set_image("antidotelabs/vqfx:*", Login::new("root", "Juniper"));
        let vqfx = logins.for_images(&["antidotelabs/vqfx:v1".to_owned()]);
        assert!(vqfx.accepts("root", "Juniper"));
        assert!(!vqfx.accepts("root", "Junipe"));
        assert!(!vqfx.accepts("roo", "Juniper"));
        let utility = logins.for_images(&["antidotelabs/utility:v1".to_owned()]);
        assert!(utility.accepts(DEFAULT_USER, DEFAULT_PASSWORD));
        assert!(!format!("{vqfx:?}").contains("Juniper"));
    }

    #[test]
    fn a_later_rule_wins() {
        let logins = Logins::default();
        logins.set_image("*", Login::new("a", "1"));
        logins.set_image("x*", Login::new("b", "2"));
        assert_eq!(logins.for_images(&["xy".to_owned()]).user(), "b");
        assert_eq!(logins.for_images(&["yx".to_owned()]).user(), "a");
    }
}
