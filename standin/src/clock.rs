//! Timestamps in Kubernetes' formats and random UIDs.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn seconds(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).expect("zero nanoseconds");
    t.format(&Rfc3339).expect("formattable time")
}

/// Now as `2006-01-02T15:04:05Z` (Kubernetes `Time`).
pub fn now() -> String {
    seconds(OffsetDateTime::now_utc())
}

/// Now as `2006-01-02T15:04:05.000000Z` (Kubernetes `MicroTime`).
pub fn now_micro() -> String {
    let t = OffsetDateTime::now_utc();
    let micros = t.nanosecond() / 1000;
    format!("{}.{micros:06}Z", seconds(t).trim_end_matches('Z'))
}

/// A random version-4 UUID.
pub fn uid() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let t = super::now();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
        let m = super::now_micro();
        assert!(m.ends_with('Z') && m.len() == 27, "{m}");
        let u = super::uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
