//! The checks behind [`super::UpstreamConfig::validate`], one per table; each names the
//! full key of the first problem it finds.

use std::collections::HashSet;

use shared::config::ConfigError;

use super::{BackendConfig, DnsConfig, HealthConfig, MAX_WEIGHT, PassiveConfig, RetryConfig};

pub(super) fn backends(backends: &[BackendConfig], key: &str) -> Result<(), ConfigError> {
    if backends.is_empty() {
        return Err(ConfigError::invalid(key, "lists no backend"));
    }
    let mut seen = HashSet::new();
    for (i, backend) in backends.iter().enumerate() {
        let addr = backend.addr;
        if !seen.insert(addr) {
            return Err(ConfigError::invalid(
                &format!("{key}[{i}].addr"),
                format!("`{addr}` is listed twice"),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(&backend.weight) {
            return Err(ConfigError::invalid(
                &format!("{key}[{i}].weight"),
                format!("must be between 1 and {MAX_WEIGHT}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn dns(dns: &DnsConfig, key: &str) -> Result<(), ConfigError> {
    if dns.name.trim().is_empty() {
        return Err(ConfigError::invalid(&format!("{key}.name"), "is empty"));
    }
    if dns.port == 0 {
        return Err(ConfigError::invalid(
            &format!("{key}.port"),
            "must not be 0",
        ));
    }
    if dns.refresh_interval_ms < 100 {
        return Err(ConfigError::invalid(
            &format!("{key}.refresh_interval_ms"),
            "must be at least 100",
        ));
    }
    Ok(())
}

pub(super) fn health(health: &HealthConfig, key: &str) -> Result<(), ConfigError> {
    if !health.path.starts_with('/') {
        return Err(ConfigError::invalid(
            &format!("{key}.path"),
            format!("`{}` must start with `/`", health.path),
        ));
    }
    if health
        .path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(ConfigError::invalid(
            &format!("{key}.path"),
            "must not contain spaces or control characters",
        ));
    }
    for (field, value) in [
        ("interval_ms", health.interval_ms),
        ("timeout_ms", health.timeout_ms),
        ("rise", u64::from(health.rise)),
        ("fall", u64::from(health.fall)),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(
                &format!("{key}.{field}"),
                "must be at least 1",
            ));
        }
    }
    let codes = health.expected_status.codes();
    if codes.is_empty() || codes.iter().any(|code| !(100..=599).contains(code)) {
        return Err(ConfigError::invalid(
            &format!("{key}.expected_status"),
            "must be one or more HTTP status codes (100..=599)",
        ));
    }
    Ok(())
}

pub(super) fn passive(passive: &PassiveConfig, key: &str) -> Result<(), ConfigError> {
    if passive.eject_on_5xx && passive.consecutive_5xx_to_eject == 0 {
        return Err(ConfigError::invalid(
            &format!("{key}.consecutive_5xx_to_eject"),
            "must be at least 1 (set eject_on_5xx = false to never eject for 5xx)",
        ));
    }
    if passive.base_ejection_ms == 0 {
        return Err(ConfigError::invalid(
            &format!("{key}.base_ejection_ms"),
            "must be at least 1",
        ));
    }
    if passive.max_ejection_ms < passive.base_ejection_ms {
        return Err(ConfigError::invalid(
            &format!("{key}.max_ejection_ms"),
            "must be at least base_ejection_ms",
        ));
    }
    Ok(())
}

pub(super) fn retry(retry: &RetryConfig, key: &str) -> Result<(), ConfigError> {
    if retry.max_attempts == 0 {
        return Err(ConfigError::invalid(
            &format!("{key}.max_attempts"),
            "must be at least 1 (it counts the first attempt)",
        ));
    }
    if !(0.0..=1.0).contains(&retry.budget_ratio) {
        return Err(ConfigError::invalid(
            &format!("{key}.budget_ratio"),
            "must be between 0.0 and 1.0",
        ));
    }
    if retry.hedge_min_ms == 0 {
        return Err(ConfigError::invalid(
            &format!("{key}.hedge_min_ms"),
            "must be at least 1",
        ));
    }
    if retry.hedge_max_ms < retry.hedge_min_ms {
        return Err(ConfigError::invalid(
            &format!("{key}.hedge_max_ms"),
            "must be at least hedge_min_ms",
        ));
    }
    if retry.hedge_after_ms == Some(0) {
        return Err(ConfigError::invalid(
            &format!("{key}.hedge_after_ms"),
            "must be at least 1 (set `hedge = false` to turn hedging off)",
        ));
    }
    Ok(())
}
