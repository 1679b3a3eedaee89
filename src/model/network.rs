//! Address arithmetic on the cluster's ranges.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The n-th address of a range (n = 1 is the first host address).
pub fn nth_host(net: &Ipv4Net, n: u32) -> Option<Ipv4Addr> {
    let base = u32::from(net.network());
    let addr = base.checked_add(n)?;
    let ip = Ipv4Addr::from(addr);
    net.contains(&ip).then_some(ip)
}

/// Do two ranges share any address?
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_and_overlap() {
        let n: Ipv4Net = "10.96.0.0/12".parse().unwrap();
        assert_eq!(nth_host(&n, 1), Some(Ipv4Addr::new(10, 96, 0, 1)));
        assert_eq!(nth_host(&n, 10), Some(Ipv4Addr::new(10, 96, 0, 10)));
        let small: Ipv4Net = "10.0.0.0/30".parse().unwrap();
        assert_eq!(nth_host(&small, 10), None);
        assert!(overlaps(&n, &"10.100.0.0/16".parse().unwrap()));
        assert!(!overlaps(&n, &"10.244.0.0/16".parse().unwrap()));
    }
}
