//! Build cache keys: a step's key is SHA-256 over its parent's key, the
//! step's canonical text, the effective ENV/ARG values, user and working
//! directory, and for `COPY`/`ADD` the content hash of the copied files.
//! Every field is length-prefixed, so no two inputs encode alike.
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// A step's cache key (or a build's root key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

/// What a disk-changing step's key covers besides its parent.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// The step's text with variables expanded (`RUN ...`, `COPY ...`).
    pub canonical: &'a str,
    /// The environment the step runs with: ENV values and ARG values.
    pub env: &'a BTreeMap<String, String>,
    pub user: &'a str,
    pub workdir: &'a str,
    /// `COPY`/`ADD`: SHA-256 over the copied files (paths, modes, bytes).
    pub content: Option<&'a [u8; 32]>,
}

/// What a build's final snapshot covers besides the last disk step: the
/// start spec (a memory snapshot holds the started service) and the VM's
/// size (a memory snapshot is made at that size).
#[derive(Debug, Clone, Copy)]
pub struct VersionInput<'a> {
    /// `None`: a disk-only snapshot.
    pub start_command: Option<&'a str>,
    pub ready_command: &'a str,
    pub user: &'a str,
    pub workdir: &'a str,
    pub env: &'a BTreeMap<String, String>,
    pub vcpus: u32,
    pub memory_mb: u32,
}

const VERSION: &[u8] = b"wrenn-build-cache-v1";

impl CacheKey {
    /// The key before any step: the base template's image name on the
    /// hosts (a new version of the base is a new image, so a new root).
    pub fn root(base_image: &str) -> CacheKey {
        let mut hash = Sha256::new();
        field(&mut hash, VERSION);
        field(&mut hash, b"root");
        field(&mut hash, base_image.as_bytes());
        CacheKey(hash.finalize().into())
    }

    /// The key of the step after `self` (the parent's key).
    pub fn child(&self, input: &KeyInput<'_>) -> CacheKey {
        let mut hash = Sha256::new();
        field(&mut hash, VERSION);
        field(&mut hash, &self.0);
        field(&mut hash, input.canonical.as_bytes());
        field(&mut hash, &(input.env.len() as u64).to_be_bytes());
        for (key, value) in input.env {
            field(&mut hash, key.as_bytes());
            field(&mut hash, value.as_bytes());
        }
        field(&mut hash, input.user.as_bytes());
        field(&mut hash, input.workdir.as_bytes());
        match input.content {
            Some(content) => {
                field(&mut hash, b"content");
                field(&mut hash, content);
            }
            None => field(&mut hash, b"no-content"),
        }
        CacheKey(hash.finalize().into())
    }

    /// The key of the final snapshot taken over `self` (the last disk
    /// step's key, or the root): an unchanged build finds it and registers
    /// it again without booting a VM.
    pub fn version(&self, input: &VersionInput<'_>) -> CacheKey {
        let mut hash = Sha256::new();
        field(&mut hash, VERSION);
        field(&mut hash, b"version");
        field(&mut hash, &self.0);
        match input.start_command {
            Some(command) => {
                field(&mut hash, b"start");
                field(&mut hash, command.as_bytes());
            }
            None => field(&mut hash, b"no-start"),
        }
        field(&mut hash, input.ready_command.as_bytes());
        field(&mut hash, input.user.as_bytes());
        field(&mut hash, input.workdir.as_bytes());
        field(&mut hash, &(input.env.len() as u64).to_be_bytes());
        for (key, value) in input.env {
            field(&mut hash, key.as_bytes());
            field(&mut hash, value.as_bytes());
        }
        field(&mut hash, &input.vcpus.to_be_bytes());
        field(&mut hash, &input.memory_mb.to_be_bytes());
        CacheKey(hash.finalize().into())
    }

    /// Lower-case hex, as stored.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn field(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(canonical: &'a str, env: &'a BTreeMap<String, String>) -> KeyInput<'a> {
        KeyInput {
            canonical,
            env,
            user: "root",
            workdir: "/",
            content: None,
        }
    }

    #[test]
    fn child_when_same_inputs_then_same_key() {
        let env = BTreeMap::new();
        let root = CacheKey::root("base");
        assert_eq!(
            root.child(&input("RUN true", &env)),
            root.child(&input("RUN true", &env))
        );
        assert_eq!(root.to_hex().len(), 64);
    }

    #[test]
    fn child_when_any_input_differs_then_key_differs() {
        let env = BTreeMap::new();
        let env_a = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let root = CacheKey::root("base");
        let plain = root.child(&input("RUN true", &env));
        let content = [7u8; 32];
        let variants = [
            CacheKey::root("base-v2").child(&input("RUN true", &env)),
            root.child(&input("RUN false", &env)),
            root.child(&input("RUN true", &env_a)),
            root.child(&KeyInput {
                user: "user",
                ..input("RUN true", &env)
            }),
            root.child(&KeyInput {
                workdir: "/srv",
                ..input("RUN true", &env)
            }),
            root.child(&KeyInput {
                content: Some(&content),
                ..input("RUN true", &env)
            }),
            plain.child(&input("RUN true", &env)),
        ];
        for (i, key) in variants.iter().enumerate() {
            assert_ne!(*key, plain, "variant {i}");
        }
    }

    fn version_input<'a>(env: &'a BTreeMap<String, String>) -> VersionInput<'a> {
        VersionInput {
            start_command: Some("serve"),
            ready_command: "curl -f localhost",
            user: "user",
            workdir: "",
            env,
            vcpus: 2,
            memory_mb: 1024,
        }
    }

    #[test]
    fn version_when_any_input_differs_then_key_differs() {
        let env = BTreeMap::new();
        let env_a = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let root = CacheKey::root("base");
        let plain = root.version(&version_input(&env));
        assert_eq!(plain, root.version(&version_input(&env)));
        let variants = [
            CacheKey::root("other").version(&version_input(&env)),
            root.child(&input("RUN true", &env)),
            root.version(&VersionInput {
                start_command: None,
                ..version_input(&env)
            }),
            root.version(&VersionInput {
                start_command: Some("serve2"),
                ..version_input(&env)
            }),
            root.version(&VersionInput {
                ready_command: "",
                ..version_input(&env)
            }),
            root.version(&VersionInput {
                user: "root",
                ..version_input(&env)
            }),
            root.version(&VersionInput {
                workdir: "/srv",
                ..version_input(&env)
            }),
            root.version(&version_input(&env_a)),
            root.version(&VersionInput {
                vcpus: 1,
                ..version_input(&env)
            }),
            root.version(&VersionInput {
                memory_mb: 2048,
                ..version_input(&env)
            }),
        ];
        for (i, key) in variants.iter().enumerate() {
            assert_ne!(*key, plain, "variant {i}");
        }
    }

    #[test]
    fn child_when_fields_shift_between_each_other_then_key_differs() {
        let env_ab = BTreeMap::from([("A".to_string(), "B".to_string())]);
        let env_a_b = BTreeMap::from([("AB".to_string(), String::new())]);
        let root = CacheKey::root("base");
        assert_ne!(
            root.child(&input("RUN x", &env_ab)),
            root.child(&input("RUN x", &env_a_b))
        );
    }
}
