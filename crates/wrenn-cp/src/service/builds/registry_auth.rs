//! A build's registry credentials for an OCI `FROM`: held in memory for the
//! running build only (submit hands them to the runner, the runner to the
//! agent's import), never stored, logged or answered.

/// Registry credentials (`Debug` hides the password).
#[derive(Clone)]
pub struct RegistryAuth {
    pub username: String,
    pub password: crate::secret::SecretString,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}
