//! What a terminal asks for: the socket.io handshake's query (`host`, `port`, `username`,
//! `userpassword`, as antidote-ui-components sends them), read once and kept with the
//! password wrapped so that no log, span or error can print it.

use std::borrow::Cow;

use crate::secret::Secret;

use super::refusal::Refusal;

/// Longest host name accepted (DNS).
const MAX_HOST: usize = 253;
/// Longest user name or password accepted.
const MAX_CREDENTIAL: usize = 256;

/// A terminal's target and login.
#[derive(Debug, Clone)]
pub struct Login {
    /// Endpoint address (the Service address the API handed out).
    pub host: String,
    /// SSH port (an `ssh` presentation's).
    pub port: u16,
    /// User name.
    pub username: String,
    /// Password (redacted when printed).
    pub password: Secret,
}

/// Reads the handshake's query string (without the `?`).
///
/// # Errors
/// [`Refusal::BadRequest`] naming the parameter, never its value.
pub fn parse(query: &str) -> Result<Login, Refusal> {
    let mut host = None;
    let mut port = None;
    let mut username = None;
    let mut password = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "host" => &mut host,
            "port" => &mut port,
            "username" => &mut username,
            "userpassword" => &mut password,
            _ => continue,
        };
        *slot = Some(decode(value)?);
    }
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or(Refusal::BadRequest("no host"))?;
    if host.len() > MAX_HOST
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
    {
        return Err(Refusal::BadRequest(
            "the host is not an address or host name",
        ));
    }
    let port = port
        .ok_or(Refusal::BadRequest("no port"))?
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or(Refusal::BadRequest(
            "the port is not a number from 1 to 65535",
        ))?;
    let username = username
        .filter(|u| !u.is_empty())
        .ok_or(Refusal::BadRequest("no username"))?;
    let password = password.ok_or(Refusal::BadRequest("no userpassword"))?;
    if username.len() > MAX_CREDENTIAL || password.len() > MAX_CREDENTIAL {
        return Err(Refusal::BadRequest("the username or password is too long"));
    }
    Ok(Login {
        host,
        port,
        username,
        password: Secret::new(password),
    })
}

/// `application/x-www-form-urlencoded` decoding of one value.
fn decode(value: &str) -> Result<String, Refusal> {
    let spaced: Cow<'_, str> = if value.contains('+') {
        Cow::Owned(value.replace('+', " "))
    } else {
        Cow::Borrowed(value)
    };
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| Refusal::BadRequest("a parameter is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_front_ends_query() {
        let login = parse(
            "host=10.96.0.12&port=22&username=antidote&userpassword=p%40ss+word&EIO=3&transport=polling",
        )
        .expect("valid");
        assert_eq!((login.host.as_str(), login.port), ("10.96.0.12", 22));
        assert_eq!(login.username, "antidote");
        assert_eq!(login.password.expose(), "p@ss word");
        assert!(!format!("{login:?}").contains("p@ss"));
    }

    #[test]
    fn names_the_missing_or_bad_parameter_never_a_value() {
        assert_eq!(
            parse("port=22&username=a&userpassword=b").err(),
            Some(Refusal::BadRequest("no host"))
        );
        assert_eq!(
            parse("host=h&port=x&username=a&userpassword=secret").err(),
            Some(Refusal::BadRequest(
                "the port is not a number from 1 to 65535"
            ))
        );
        assert_eq!(
            parse("host=h%2Fx&port=22&username=a&userpassword=b").err(),
            Some(Refusal::BadRequest(
                "the host is not an address or host name"
            ))
        );
        assert_eq!(
            parse("host=h&port=22&username=a").err(),
            Some(Refusal::BadRequest("no userpassword"))
        );
    }
}
