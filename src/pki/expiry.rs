//! Certificate expiry as `cert check` and `status` report it.

use super::CertInfo;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One certificate's expiry, relative to a moment.
#[derive(Debug, Clone, Serialize)]
pub struct CertExpiry {
    pub name: String,
    pub subject_cn: String,
    pub issuer_cn: String,
    pub is_ca: bool,
    /// RFC 3339, UTC.
    pub not_after: String,
    /// Whole days from now until `not_after`; negative once expired.
    pub days_left: i64,
    /// `ok`, `expiring` (within the warning window) or `EXPIRED`.
    pub status: String,
}

impl CertExpiry {
    /// Expired or expiring within the warning window.
    pub fn needs_attention(&self) -> bool {
        self.status != "ok"
    }
}

/// Every certificate's expiry at `now`, soonest first (ties by name); `warn_days` is the
/// window within which a certificate counts as expiring.
pub fn expiry(infos: &[CertInfo], now: OffsetDateTime, warn_days: u32) -> Vec<CertExpiry> {
    let mut sorted: Vec<&CertInfo> = infos.iter().collect();
    sorted.sort_by(|a, b| a.not_after.cmp(&b.not_after).then(a.name.cmp(&b.name)));
    let window = time::Duration::days(i64::from(warn_days));
    sorted
        .into_iter()
        .map(|c| {
            let status = if c.not_after <= now {
                "EXPIRED"
            } else if c.not_after <= now + window {
                "expiring"
            } else {
                "ok"
            };
            CertExpiry {
                name: c.name.clone(),
                subject_cn: c.subject_cn.clone(),
                issuer_cn: c.issuer_cn.clone(),
                is_ca: c.is_ca,
                not_after: c
                    .not_after
                    .to_offset(time::UtcOffset::UTC)
                    .format(&Rfc3339)
                    .unwrap_or_else(|_| c.not_after.to_string()),
                days_left: (c.not_after - now).whole_days(),
                status: status.into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, not_after: OffsetDateTime) -> CertInfo {
        CertInfo {
            name: name.into(),
            subject_cn: name.into(),
            subject_orgs: vec![],
            sans: vec![],
            issuer_cn: "ca".into(),
            is_ca: false,
            serial_hex: "01".into(),
            not_before: not_after - time::Duration::days(365),
            not_after,
        }
    }

    #[test]
    fn sorted_soonest_first_with_status() {
        let now = OffsetDateTime::now_utc();
        let list = [
            info("later", now + time::Duration::days(300)),
            info("gone", now - time::Duration::days(2)),
            info("soon", now + time::Duration::days(10)),
        ];
        let e = expiry(&list, now, 30);
        let names: Vec<_> = e.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["gone", "soon", "later"]);
        let st: Vec<_> = e.iter().map(|x| x.status.as_str()).collect();
        assert_eq!(st, ["EXPIRED", "expiring", "ok"]);
        assert_eq!(e[0].days_left, -2);
        assert_eq!(e[2].days_left, 300);
        assert!(!e[2].needs_attention());
    }
}
