//! Who may log in: anonymous users (any password, optionally an email-looking one)
//! and named users from a users file with argon2id password hashes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;

use crate::vfs::Permissions;

/// A logged-in identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub anonymous: bool,
    /// `None` means the server root.
    pub root: Option<PathBuf>,
    pub perms: Permissions,
}

/// Why a login or a users file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("login incorrect")]
    Denied,
    #[error("users file: {0}")]
    Config(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl AuthError {
    /// The FTP reply code.
    pub fn reply_code(&self) -> u16 {
        530
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersToml {
    #[serde(default)]
    user: Vec<UserToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserToml {
    name: String,
    password: String,
    root: Option<PathBuf>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
struct UserRecord {
    hash: String,
    root: Option<PathBuf>,
    perms: Permissions,
}

/// Named users loaded from TOML (`[[user]]` tables).
#[derive(Debug, Clone, Default)]
pub struct UsersFile {
    users: HashMap<String, UserRecord>,
}

impl UsersFile {
    /// Parse the TOML text of a users file.
    pub fn parse(text: &str) -> Result<UsersFile, AuthError> {
        let parsed: UsersToml =
            toml::from_str(text).map_err(|e| AuthError::Config(e.to_string()))?;
        let mut users = HashMap::new();
        for u in parsed.user {
            PasswordHash::new(&u.password).map_err(|e| {
                AuthError::Config(format!(
                    "user {:?}: `password` is not a PHC hash: {e}",
                    u.name
                ))
            })?;
            if let Some(root) = &u.root {
                if !root.is_absolute() {
                    return Err(AuthError::Config(format!(
                        "user {:?}: `root` must be absolute",
                        u.name
                    )));
                }
            }
            let perms = match &u.permissions {
                Some(p) => Permissions::from_names(p).map_err(AuthError::Config)?,
                None => Permissions::read_only(),
            };
            let record = UserRecord {
                hash: u.password,
                root: u.root,
                perms,
            };
            if users.insert(u.name.clone(), record).is_some() {
                return Err(AuthError::Config(format!(
                    "user {:?} appears twice",
                    u.name
                )));
            }
        }
        Ok(UsersFile { users })
    }

    /// Read and parse a users file.
    pub fn load(path: &Path) -> Result<UsersFile, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Config(e.to_string()))?;
        Self::parse(&text)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no users are defined.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// How anonymous logins are treated.
#[derive(Debug, Clone)]
pub struct AnonymousPolicy {
    pub enabled: bool,
    pub require_email: bool,
    pub root: Option<PathBuf>,
    pub perms: Permissions,
}

impl Default for AnonymousPolicy {
    fn default() -> Self {
        AnonymousPolicy {
            enabled: true,
            require_email: false,
            root: None,
            perms: Permissions::read_only(),
        }
    }
}

/// Checks USER/PASS pairs.
#[derive(Debug)]
pub struct Authenticator {
    users: UsersFile,
    anonymous: AnonymousPolicy,
    /// Verified against for unknown names, so timing does not reveal which exist.
    /// Made on first use (on the password-check pool): hashing costs argon2's 19 MiB,
    /// which an anonymous-only server never needs to touch.
    dummy_hash: OnceLock<String>,
}

impl Authenticator {
    /// An authenticator for these users and anonymous policy.
    pub fn new(users: Option<UsersFile>, anonymous: AnonymousPolicy) -> Authenticator {
        Authenticator {
            users: users.unwrap_or_default(),
            anonymous,
            dummy_hash: OnceLock::new(),
        }
    }

    /// True if `user` logs in anonymously (cheap: no password hash involved).
    pub fn is_anonymous(&self, user: &[u8]) -> bool {
        self.anonymous.enabled
            && (user.eq_ignore_ascii_case(b"anonymous") || user.eq_ignore_ascii_case(b"ftp"))
    }

    /// Every root a login can be given, with who gets it and what they may do there:
    /// anonymous (when enabled) and each named user; `None` is the server root.
    pub fn roots(&self) -> Vec<(String, Option<PathBuf>, Permissions)> {
        let mut roots = Vec::new();
        if self.anonymous.enabled {
            roots.push((
                "anonymous".to_string(),
                self.anonymous.root.clone(),
                self.anonymous.perms,
            ));
        }
        let mut users: Vec<_> = self.users.users.iter().collect();
        users.sort_by(|a, b| a.0.cmp(b.0));
        for (name, record) in users {
            roots.push((name.clone(), record.root.clone(), record.perms));
        }
        roots
    }

    /// Check a login. Named users cost an argon2 verification: run it off the event loop.
    pub fn login(&self, user: &[u8], pass: &[u8]) -> Result<Account, AuthError> {
        if self.is_anonymous(user) {
            if self.anonymous.require_email && !pass.contains(&b'@') {
                return Err(AuthError::Denied);
            }
            return Ok(Account {
                name: "anonymous".into(),
                anonymous: true,
                root: self.anonymous.root.clone(),
                perms: self.anonymous.perms,
            });
        }
        let record = std::str::from_utf8(user)
            .ok()
            .and_then(|u| self.users.users.get(u));
        let hash = match record {
            Some(r) => r.hash.as_str(),
            None => self
                .dummy_hash
                .get_or_init(|| hash_password("ringftp-dummy-password").unwrap_or_default()),
        };
        let verified = PasswordHash::new(hash)
            .map(|h| Argon2::default().verify_password(pass, &h).is_ok())
            .unwrap_or(false);
        match (record, verified) {
            (Some(r), true) => Ok(Account {
                name: String::from_utf8_lossy(user).into_owned(),
                anonymous: false,
                root: r.root.clone(),
                perms: r.perms,
            }),
            _ => Err(AuthError::Denied),
        }
    }
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(plain: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> UsersFile {
        let hash = hash_password("s3cret").unwrap();
        UsersFile::parse(&format!(
            "[[user]]\nname = \"alice\"\npassword = \"{hash}\"\nroot = \"/srv/alice\"\npermissions = [\"read\", \"write\"]\n"
        ))
        .unwrap()
    }

    #[test]
    fn anonymous_and_named_logins() {
        let auth = Authenticator::new(Some(users()), AnonymousPolicy::default());
        let anon = auth.login(b"Anonymous", b"").unwrap();
        assert!(anon.anonymous && anon.perms == Permissions::read_only());
        assert!(auth.login(b"ftp", b"x").unwrap().anonymous);
        let alice = auth.login(b"alice", b"s3cret").unwrap();
        assert!(!alice.anonymous && alice.perms.write && !alice.perms.delete);
        assert_eq!(alice.root.as_deref(), Some(Path::new("/srv/alice")));
        assert!(matches!(
            auth.login(b"alice", b"wrong"),
            Err(AuthError::Denied)
        ));
        assert!(matches!(
            auth.login(b"bob", b"s3cret"),
            Err(AuthError::Denied)
        ));
        assert!(matches!(
            auth.login(b"\xff\xfe", b"x"),
            Err(AuthError::Denied)
        ));
    }

    #[test]
    fn anonymous_rules() {
        let strict = AnonymousPolicy {
            require_email: true,
            ..AnonymousPolicy::default()
        };
        let auth = Authenticator::new(None, strict);
        assert!(auth.login(b"anonymous", b"nobody").is_err());
        assert!(auth.login(b"anonymous", b"me@example.org").is_ok());
        let off = AnonymousPolicy {
            enabled: false,
            ..AnonymousPolicy::default()
        };
        assert!(Authenticator::new(None, off)
            .login(b"anonymous", b"a@b")
            .is_err());
    }

    #[test]
    fn users_file_errors_name_the_problem() {
        let err = UsersFile::parse("[[user]]\nname = \"a\"\npasword = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pasword"), "{err}");
        let err = UsersFile::parse("[[user]]\nname = \"a\"\npassword = \"plain\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("PHC"), "{err}");
        let hash = hash_password("x").unwrap();
        let twice = format!("[[user]]\nname = \"a\"\npassword = \"{hash}\"\n[[user]]\nname = \"a\"\npassword = \"{hash}\"\n");
        assert!(UsersFile::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let perm =
            format!("[[user]]\nname = \"a\"\npassword = \"{hash}\"\npermissions = [\"fly\"]\n");
        assert!(UsersFile::parse(&perm)
            .unwrap_err()
            .to_string()
            .contains("fly"));
    }
}
