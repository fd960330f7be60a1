//! Changing the configuration of the running node (CONFIG SET, memcached's `verbosity`):
//! the server's own settings, then what persistence and the cluster hold.

use crate::config::ConfigError;
use crate::server::Server;

/// Applies `name value` pairs, all or nothing.
pub fn set(server: &Server, pairs: &[(String, String)]) -> Result<(), ConfigError> {
    let before = server.set_config(pairs, |before, next| {
        crate::cluster::node::apply_config(server, before, next).map_err(|reason| {
            ConfigError::Invalid {
                name: "cluster-secret".into(),
                reason,
            }
        })
    })?;
    crate::persist::saving::apply_config(&server.arc(), &before);
    Ok(())
}
