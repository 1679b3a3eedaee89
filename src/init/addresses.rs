//! The machine addresses `init` is given: comma-separated addresses and ranges
//! (`10.0.0.21-10.0.0.30`, or `10.0.0.21-30` within the last octet), checked for
//! backwards ranges, repeats and addresses given to two roles.

use std::net::Ipv4Addr;

/// The largest range `init` expands (a typo such as `10.0.0.1-10.9.0.1` is caught).
pub const MAX_RANGE: u32 = 4096;

/// Expand one option's value. `what` names the option in messages (`--workers`).
pub fn parse_list(what: &str, text: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        match part.split_once('-') {
            None => out.push(parse_ip(what, part)?),
            Some((from, to)) => {
                let from_ip = parse_ip(what, from.trim())?;
                let to = to.trim();
                let to_ip = if to.contains('.') {
                    parse_ip(what, to)?
                } else {
                    let last: u8 = to.parse().map_err(|_| {
                        format!("{what}: `{part}` is not a range; write FIRST-LAST, e.g. 10.0.0.21-10.0.0.30 or 10.0.0.21-30")
                    })?;
                    let [a, b, c, _] = from_ip.octets();
                    Ipv4Addr::new(a, b, c, last)
                };
                let (lo, hi) = (u32::from(from_ip), u32::from(to_ip));
                if hi < lo {
                    return Err(format!(
                        "{what}: the range `{part}` runs backwards ({to_ip} comes before {from_ip}); write it as {to_ip}-{from_ip}"
                    ));
                }
                if hi - lo >= MAX_RANGE {
                    return Err(format!(
                        "{what}: the range `{part}` holds {} addresses, more than {MAX_RANGE}; check it for a typo",
                        u64::from(hi - lo) + 1
                    ));
                }
                out.extend((lo..=hi).map(Ipv4Addr::from));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for ip in &out {
        if !seen.insert(*ip) {
            return Err(format!("{what}: {ip} is given twice"));
        }
    }
    Ok(out)
}

fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr, String> {
    let ip: Ipv4Addr = s.parse().map_err(|_| {
        format!("{what}: `{s}` is not an IPv4 address; write e.g. 10.0.0.11 or 10.0.0.21-10.0.0.30")
    })?;
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
        return Err(format!(
            "{what}: {ip} cannot be a machine's address; write the address each machine answers SSH on"
        ));
    }
    Ok(ip)
}

/// No address may be given to two roles.
pub fn check_disjoint(groups: &[(&str, &[Ipv4Addr])]) -> Result<(), String> {
    for (i, (a_name, a)) in groups.iter().enumerate() {
        for (b_name, b) in &groups[i + 1..] {
            if let Some(ip) = a.iter().find(|ip| b.contains(ip)) {
                return Err(format!(
                    "{ip} is in both {a_name} and {b_name}: a machine has one role; give it to one of them"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        let v = parse_list("--workers", "10.0.0.21-10.0.0.23, 10.0.0.30,10.0.0.40-41").unwrap();
        let s: Vec<String> = v.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            s,
            [
                "10.0.0.21",
                "10.0.0.22",
                "10.0.0.23",
                "10.0.0.30",
                "10.0.0.40",
                "10.0.0.41"
            ]
        );
        // ranges may cross an octet
        assert_eq!(parse_list("x", "10.0.0.255-10.0.1.1").unwrap().len(), 3);
    }

    #[test]
    fn bad_input_is_named() {
        let e = parse_list("--workers", "10.0.0.30-10.0.0.21").unwrap_err();
        assert!(
            e.contains("backwards") && e.contains("10.0.0.21-10.0.0.30"),
            "{e}"
        );
        let e = parse_list("--masters", "10.0.0.1,10.0.0.1").unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = parse_list("--masters", "10.0.0.x").unwrap_err();
        assert!(e.contains("`10.0.0.x`"), "{e}");
        let e = parse_list("--workers", "10.0.0.1-10.1.0.1").unwrap_err();
        assert!(e.contains("typo"), "{e}");
        let e = parse_list("--masters", "127.0.0.1").unwrap_err();
        assert!(e.contains("cannot be"), "{e}");
        let m = parse_list("m", "10.0.0.1").unwrap();
        let w = parse_list("w", "10.0.0.1-10.0.0.3").unwrap();
        let e = check_disjoint(&[("--masters", &m), ("--workers", &w)]).unwrap_err();
        assert!(
            e.contains("10.0.0.1 is in both --masters and --workers"),
            "{e}"
        );
    }
}
