//! The sandbox's own Docker network: a bridge with a fixed IPv4 subnet (by default the
//! first /24 of 172.30.0.0/16 that no Docker network and no host route uses), labelled.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use ipnet::Ipv4Net;

use super::error::{DockerContext, SandboxError};
use super::labels;

/// The range default subnets are taken from.
pub const DEFAULT_RANGE: &str = "172.30.0.0/16";

/// Offset of the first node address in the subnet (`.1` is the bridge's gateway).
pub const FIRST_NODE_OFFSET: u32 = 11;

/// IPv4 subnets of every Docker network on the engine.
pub async fn docker_subnets(docker: &Docker) -> Result<Vec<Ipv4Net>, SandboxError> {
    let networks = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .docker("listing Docker networks")?;
    Ok(networks
        .iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .filter_map(|c| c.subnet.as_deref()?.parse().ok())
        .collect())
}

/// IPv4 routes of the control host other than the default route, from /proc/net/route.
pub fn host_routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_proc_routes(&text))
        .unwrap_or_default()
}

/// Parse /proc/net/route: destination and mask are little-endian hex words.
fn parse_proc_routes(text: &str) -> Vec<Ipv4Net> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            let prefix = mask.swap_bytes().leading_ones() as u8;
            if prefix == 0 {
                return None;
            }
            Ipv4Net::new(Ipv4Addr::from(dest.swap_bytes()), prefix).ok()
        })
        .collect()
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first /24 in `range` that overlaps none of `used`, skipping `skip` of them.
pub fn pick_free_subnet(range: Ipv4Net, used: &[Ipv4Net], skip: usize) -> Option<Ipv4Net> {
    range
        .subnets(24)
        .ok()?
        .filter(|candidate| !used.iter().any(|u| overlaps(candidate, u)))
        .nth(skip)
}

/// Why `subnet` cannot hold `nodes` nodes, or overlaps something in use.
pub fn check_subnet(subnet: Ipv4Net, nodes: u32, used: &[Ipv4Net]) -> Result<(), SandboxError> {
    let unusable = |reason: String| SandboxError::SubnetUnusable {
        subnet: subnet.to_string(),
        reason,
    };
    let hosts = 1u64 << (32 - u32::from(subnet.prefix_len()));
    // network address, gateway .1, .2-.10 left free, the nodes, the broadcast address
    if u64::from(FIRST_NODE_OFFSET) + u64::from(nodes) + 1 > hosts {
        return Err(unusable(format!(
            "too small for {nodes} nodes (they start at offset {FIRST_NODE_OFFSET})"
        )));
    }
    if subnet.trunc() != subnet {
        return Err(unusable(format!(
            "host bits set; did you mean {}?",
            subnet.trunc()
        )));
    }
    if let Some(u) = used.iter().find(|u| overlaps(&subnet, u)) {
        return Err(unusable(format!(
            "overlaps {u}, used by a Docker network or a host route"
        )));
    }
    Ok(())
}

/// The address of the node with this index (0-based) in `subnet`.
pub fn node_address(subnet: Ipv4Net, index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + FIRST_NODE_OFFSET + index)
}

/// The bridge's own address in `subnet`.
pub fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Create the labelled bridge network `network` for sandbox `sandbox` with `subnet`.
/// `Ok(false)` when the engine refused the subnet because another network took it first.
pub async fn create(
    docker: &Docker,
    network: &str,
    sandbox: &str,
    subnet: Ipv4Net,
) -> Result<bool, SandboxError> {
    let request = NetworkCreateRequest {
        name: network.to_string(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(gateway(subnet).to_string()),
                ..Default::default()
            }]),
            options: None,
        }),
        labels: Some(HashMap::from([
            (labels::SANDBOX.to_string(), sandbox.to_string()),
            (labels::SANDBOX_SUBNET.to_string(), subnet.to_string()),
        ])),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("overlap") =>
        {
            Ok(false)
        }
        Err(e) => Err(e).docker(format!("creating network {network} ({subnet})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_unused_24_is_picked() {
        let range = net(DEFAULT_RANGE);
        assert_eq!(pick_free_subnet(range, &[], 0), Some(net("172.30.0.0/24")));
        let used = [
            net("172.17.0.0/16"),
            net("172.30.0.0/24"),
            net("172.30.1.128/25"),
        ];
        assert_eq!(
            pick_free_subnet(range, &used, 0),
            Some(net("172.30.2.0/24"))
        );
        assert_eq!(
            pick_free_subnet(range, &used, 1),
            Some(net("172.30.3.0/24"))
        );
        assert_eq!(pick_free_subnet(range, &[net("172.30.0.0/16")], 0), None);
        assert_eq!(pick_free_subnet(range, &[net("172.16.0.0/12")], 0), None);
    }

    #[test]
    fn proc_routes_are_parsed_and_the_default_route_skipped() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_routes(text),
            vec![net("10.0.0.0/24"), net("172.17.0.0/16")]
        );
    }

    #[test]
    fn subnets_are_checked_for_size_and_overlap() {
        assert!(check_subnet(net("10.99.0.0/24"), 20, &[]).is_ok());
        assert!(check_subnet(net("10.99.0.0/28"), 4, &[]).is_ok());
        assert!(check_subnet(net("10.99.0.0/28"), 5, &[]).is_err());
        assert!(check_subnet(net("10.99.0.0/27"), 20, &[]).is_ok());
        assert!(check_subnet(net("10.99.0.0/27"), 21, &[]).is_err());
        assert!(check_subnet(net("10.99.0.5/24"), 3, &[]).is_err());
        let err = check_subnet(net("10.99.0.0/24"), 3, &[net("10.0.0.0/8")]).unwrap_err();
        assert!(err.to_string().contains("overlaps 10.0.0.0/8"), "{err}");
    }

    #[test]
    fn node_addresses_start_after_the_gateway() {
        let subnet = net("172.30.7.0/24");
        assert_eq!(gateway(subnet), Ipv4Addr::new(172, 30, 7, 1));
        assert_eq!(node_address(subnet, 0), Ipv4Addr::new(172, 30, 7, 11));
        assert_eq!(node_address(subnet, 4), Ipv4Addr::new(172, 30, 7, 15));
    }
}
