//! A sealed [`ContainerSpec`] as the body of Docker's create-container call: image,
//! entrypoint, args, env, labels and the host config (binds, modes, restart policy, and
//! "privileged except these capabilities").

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};

use super::error::DockerOpError;
use crate::components::spec::ContainerSpec;

/// Docker's restart policy for the spec's word (`always`, `unless-stopped`, `no`,
/// `on-failure[:N]`).
pub fn restart_policy(spec: &ContainerSpec) -> Result<RestartPolicy, DockerOpError> {
    let invalid = || DockerOpError::InvalidSpec {
        name: spec.name.clone(),
        reason: format!(
            "restart policy {:?} is none of always, unless-stopped, no, on-failure[:N]",
            spec.restart_policy
        ),
    };
    let (word, count) = match spec.restart_policy.split_once(':') {
        Some((w, n)) => (w, Some(n.parse::<i64>().map_err(|_| invalid())?)),
        None => (spec.restart_policy.as_str(), None),
    };
    let name = match word {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "no" | "" => RestartPolicyNameEnum::NO,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(invalid()),
    };
    if count.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(invalid());
    }
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

/// The create body for a spec, field by field: image, entrypoint (an empty one keeps the
/// image's), cmd = args, env, labels, and the host config (binds, network mode, pid mode,
/// privileged, restart policy).
pub fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, DockerOpError> {
    if spec.name.is_empty() || spec.image.is_empty() {
        return Err(DockerOpError::InvalidSpec {
            name: spec.name.clone(),
            reason: "a container needs a name and an image".into(),
        });
    }
    let mut host_config = HostConfig {
        binds: Some(spec.binds.iter().map(|b| b.to_docker()).collect()),
        network_mode: Some(spec.network_mode.clone()),
        pid_mode: spec.pid_mode.clone(),
        privileged: Some(spec.privileged),
        restart_policy: Some(restart_policy(spec)?),
        ..Default::default()
    };
    if spec.privileged && !spec.cap_drop.is_empty() {
        // "Privileged except these capabilities" (nodes that are containers themselves,
        // where the kernel refuses some capabilities): everything `--privileged` grants,
        // spelled out, minus the capabilities the host cannot give.
        host_config.privileged = Some(false);
        host_config.cap_add = Some(vec!["ALL".into()]);
        host_config.cap_drop = Some(spec.cap_drop.clone());
        host_config.security_opt = Some(vec![
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
        ]);
        host_config.device_cgroup_rules = Some(vec!["a *:* rwm".into()]);
        host_config.masked_paths = Some(vec![]);
        host_config.readonly_paths = Some(vec![]);
    }
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: (!spec.entrypoint.is_empty()).then(|| spec.entrypoint.clone()),
        cmd: Some(spec.args.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        host_config: Some(host_config),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::spec::Bind;

    fn sealed() -> ContainerSpec {
        let mut s = ContainerSpec::new(
            "c1",
            "etcd",
            "reg.example:5000/etcd:3.5.9",
            &["/usr/local/bin/etcd"],
            vec!["--name=m1".into(), "--data-dir=/var/lib/etcd".into()],
        );
        s.env.insert("ETCDCTL_API".into(), "3".into());
        s.binds.push(Bind::rw("/var/lib/etcd"));
        s.binds
            .push(Bind::ro("/etc/kubernetes/pki").with_propagation("rslave"));
        s.pid_mode = Some("host".into());
        s.privileged = true;
        s.seal(&|_| None);
        s
    }

    #[test]
    fn every_spec_field_reaches_the_create_body() {
        let spec = sealed();
        let body = create_body(&spec).unwrap();
        assert_eq!(body.image.as_deref(), Some("reg.example:5000/etcd:3.5.9"));
        assert_eq!(
            body.entrypoint,
            Some(vec!["/usr/local/bin/etcd".to_string()])
        );
        assert_eq!(body.cmd, Some(spec.args.clone()));
        assert_eq!(body.env, Some(vec!["ETCDCTL_API=3".to_string()]));
        let labels = body.labels.unwrap();
        assert_eq!(labels.len(), spec.labels.len());
        for (k, v) in &spec.labels {
            assert_eq!(labels.get(k), Some(v), "{k}");
        }
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds,
            Some(vec![
                "/var/lib/etcd:/var/lib/etcd:rw".to_string(),
                "/etc/kubernetes/pki:/etc/kubernetes/pki:ro,rslave".to_string()
            ])
        );
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        assert_eq!(host.privileged, Some(true));
        assert_eq!(
            host.restart_policy,
            Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None
            })
        );
    }

    #[test]
    fn an_empty_entrypoint_keeps_the_image_one() {
        let mut spec = sealed();
        spec.entrypoint.clear();
        assert_eq!(create_body(&spec).unwrap().entrypoint, None);
    }

    #[test]
    fn restart_policies_parse_and_bad_ones_are_named() {
        let mut spec = sealed();
        for (word, name, count) in [
            ("always", RestartPolicyNameEnum::ALWAYS, None),
            (
                "unless-stopped",
                RestartPolicyNameEnum::UNLESS_STOPPED,
                None,
            ),
            ("no", RestartPolicyNameEnum::NO, None),
            ("on-failure:3", RestartPolicyNameEnum::ON_FAILURE, Some(3)),
        ] {
            spec.restart_policy = word.into();
            let p = restart_policy(&spec).unwrap();
            assert_eq!(
                (p.name, p.maximum_retry_count),
                (Some(name), count),
                "{word}"
            );
        }
        for bad in ["sometimes", "always:2", "on-failure:x"] {
            spec.restart_policy = bad.into();
            let text = restart_policy(&spec).unwrap_err().to_string();
            assert!(text.contains("etcd") && text.contains(bad), "{text}");
        }
    }
}
