//! What a sandbox node is in the cluster: the `k8s-role` its line of the machine list
//! says, and the role label of its container.

use std::fmt;

/// A node's role. The sandbox writes it into the config as `k8s-role`, so its names are
/// the product's roles; a unit test on the product's side holds the two lists together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Master,
    Worker,
    Proxy,
}

impl Role {
    /// Every role, in the order a sandbox lists its nodes.
    pub const ALL: [Role; 3] = [Role::Master, Role::Worker, Role::Proxy];

    /// Its `k8s-role` name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Proxy => "proxy",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("etcd".parse::<Role>().is_err());
    }
}
