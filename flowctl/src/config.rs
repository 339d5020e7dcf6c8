//! The chassis configuration, read from the Open_vSwitch row's external_ids exactly as
//! ovn-controller 23.03 reads it: every key may be overridden per chassis as `KEY-<system-id>`
//! (so several chassis can share one OVS database in tests), defaults are 23.03's.

use std::collections::{BTreeMap, BTreeSet};

/// OVN feature flags 23.03 advertises in Chassis.other_config.
pub const FEATURE_FLAGS: [&str; 4] =
    ["port-up-notif", "ct-no-masked-label", "mac-binding-timestamp", "ovn-ct-lb-related"];

/// Keys copied verbatim into Chassis.other_config, with 23.03's defaults.
const OTHER_CONFIG_KEYS: [(&str, &str); 9] = [
    ("ovn-bridge-mappings", ""),
    ("ovn-cms-options", ""),
    ("ovn-monitor-all", "false"),
    ("ovn-enable-lflow-cache", "true"),
    ("ovn-limit-lflow-cache", ""),
    ("ovn-memlimit-lflow-cache-kb", ""),
    ("ovn-trim-limit-lflow-cache", ""),
    ("ovn-trim-wmark-perc-lflow-cache", ""),
    ("ovn-trim-timeout-ms", ""),
];

/// Looks up `key`, preferring the per-chassis override `key-<chassis>`.
pub fn chassis_value<'a>(ids: &'a BTreeMap<String, String>, chassis: &str, key: &str) -> Option<&'a str> {
    ids.get(&format!("{key}-{chassis}")).or_else(|| ids.get(key)).map(String::as_str)
}

fn parse_bool(v: Option<&str>, default: bool) -> bool {
    match v {
        Some("true") => true,
        Some("false") => false,
        _ => default,
    }
}

/// A comma-separated list as a set, as OVS's sset_from_delimited_string makes it.
fn split_set(v: &str) -> BTreeSet<String> {
    v.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// What the local OVS database says this chassis is.
#[derive(Clone, Debug, PartialEq)]
pub struct ChassisConfig {
    pub chassis_id: String,
    pub hostname: String,
    /// Southbound remotes (`ovn-remote`, comma separated for a cluster).
    pub sb_remote: Option<String>,
    /// ms; 23.03: default 5000 for stream remotes, 0 (off) for unix:.
    pub sb_probe_interval_ms: u64,
    pub bridge: String,
    pub bridge_datapath_type: Option<String>,
    pub bridge_mappings: BTreeMap<String, String>,
    pub encap_types: BTreeSet<String>,
    pub encap_ips: BTreeSet<String>,
    pub encap_csum: String,
    pub monitor_all: bool,
    /// s; 0 disables OpenFlow echo probes (23.03's default).
    pub openflow_probe_interval_s: u64,
    pub transport_zones: BTreeSet<String>,
    pub is_interconn: bool,
    /// Chassis.other_config as 23.03 builds it (feature flags included).
    pub other_config: BTreeMap<String, String>,
    /// `ovn-ofctrl-wait-before-clear`, ms: accepted for compatibility (chassisd never clears).
    pub ofctrl_wait_before_clear_ms: u64,
    pub match_northd_version: bool,
}

/// Why there is no usable configuration yet (23.03 logs these and waits).
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoSystemId,
    NoEncap,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoSystemId => write!(f, "no system-id in Open_vSwitch external_ids"),
            ConfigError::NoEncap => write!(f, "need to specify an encap type and ip (ovn-encap-type, ovn-encap-ip)"),
        }
    }
}

impl ChassisConfig {
    /// `chassis_override` is `-n`/system-id-override, which wins over external_ids:system-id.
    pub fn from_ovs(
        ids: &BTreeMap<String, String>,
        iface_types: &[String],
        br_datapath_type: Option<&str>,
        chassis_override: Option<&str>,
        local_hostname: &str,
    ) -> Result<ChassisConfig, ConfigError> {
        let chassis_id = chassis_override
            .or_else(|| ids.get("system-id").map(String::as_str))
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::NoSystemId)?
            .to_string();
        let get = |key: &str| chassis_value(ids, &chassis_id, key);
        let (Some(encap_type), Some(encap_ip)) = (get("ovn-encap-type"), get("ovn-encap-ip")) else {
            return Err(ConfigError::NoEncap);
        };
        let sb_remote = get("ovn-remote").map(str::to_string);
        let default_probe = if sb_remote.as_deref().is_some_and(|r| r.starts_with("unix:")) { 0 } else { 5000 };
        let sb_probe_interval_ms = match get("ovn-remote-probe-interval").and_then(|v| v.parse::<u64>().ok()) {
            // OVS's minimum for an enabled probe is 1 s.
            Some(v) if v > 0 => v.max(1000),
            Some(_) => 0,
            None => default_probe,
        };
        let bridge_mappings_text = get("ovn-bridge-mappings").unwrap_or("");
        let bridge_mappings = bridge_mappings_text
            .split(',')
            .filter_map(|pair| pair.trim().split_once(':'))
            .map(|(net, br)| (net.to_string(), br.to_string()))
            .collect();
        let hostname = get("hostname").unwrap_or(local_hostname).to_string();
        let is_interconn = parse_bool(get("ovn-is-interconn"), false);
        let mut other_config = BTreeMap::new();
        for (key, default) in OTHER_CONFIG_KEYS {
            other_config.insert(key.to_string(), get(key).unwrap_or(default).to_string());
        }
        other_config.insert("datapath-type".into(), br_datapath_type.unwrap_or("").to_string());
        other_config.insert("iface-types".into(), iface_types.join(","));
        other_config
            .insert("ovn-chassis-mac-mappings".into(), get("ovn-chassis-mac-mappings").unwrap_or("").to_string());
        other_config.insert("is-interconn".into(), is_interconn.to_string());
        for flag in FEATURE_FLAGS {
            other_config.insert(flag.into(), "true".into());
        }
        Ok(ChassisConfig {
            hostname,
            sb_remote,
            sb_probe_interval_ms,
            bridge: get("ovn-bridge").unwrap_or("br-int").to_string(),
            bridge_datapath_type: get("ovn-bridge-datapath-type").map(str::to_string),
            bridge_mappings,
            encap_types: split_set(encap_type),
            encap_ips: split_set(encap_ip),
            encap_csum: get("ovn-encap-csum").unwrap_or("true").to_string(),
            monitor_all: parse_bool(get("ovn-monitor-all"), false),
            openflow_probe_interval_s: get("ovn-openflow-probe-interval").and_then(|v| v.parse().ok()).unwrap_or(0),
            transport_zones: split_set(get("ovn-transport-zones").unwrap_or("")),
            is_interconn,
            other_config,
            ofctrl_wait_before_clear_ms: get("ovn-ofctrl-wait-before-clear").and_then(|v| v.parse().ok()).unwrap_or(0),
            match_northd_version: parse_bool(get("ovn-match-northd-version"), false),
            chassis_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_what_23_03_reads_with_its_defaults() {
        let ids = ids(&[
            ("system-id", "hv1"),
            ("ovn-remote", "tcp:10.0.0.1:6642,tcp:10.0.0.2:6642"),
            ("ovn-encap-type", "geneve,vxlan"),
            ("ovn-encap-ip", "192.0.2.1"),
            ("ovn-bridge-mappings", "physnet1:br-eth1, physnet2:br-eth2"),
        ]);
        let c =
            ChassisConfig::from_ovs(&ids, &["geneve".into(), "vxlan".into()], Some("system"), None, "host").unwrap();
        assert_eq!(c.chassis_id, "hv1");
        assert_eq!(c.hostname, "host");
        assert_eq!(c.bridge, "br-int");
        assert_eq!(c.sb_probe_interval_ms, 5000);
        assert_eq!(c.encap_types, split_set("geneve,vxlan"));
        assert_eq!(c.bridge_mappings.get("physnet2").map(String::as_str), Some("br-eth2"));
        assert_eq!(c.other_config["ovn-monitor-all"], "false");
        assert_eq!(c.other_config["iface-types"], "geneve,vxlan");
        assert_eq!(c.other_config["datapath-type"], "system");
        assert_eq!(c.other_config["port-up-notif"], "true");
        assert_eq!(c.encap_csum, "true");
    }

    #[test]
    fn per_chassis_keys_win() {
        let ids = ids(&[
            ("system-id", "hv2"),
            ("ovn-encap-type", "geneve"),
            ("ovn-encap-ip", "192.0.2.1"),
            ("ovn-encap-ip-hv2", "192.0.2.2"),
            ("ovn-bridge-hv2", "br-hv2"),
            ("ovn-remote", "unix:/run/sb.sock"),
        ]);
        let c = ChassisConfig::from_ovs(&ids, &[], None, None, "h").unwrap();
        assert_eq!(c.encap_ips, split_set("192.0.2.2"));
        assert_eq!(c.bridge, "br-hv2");
        assert_eq!(c.sb_probe_interval_ms, 0, "unix: remotes are not probed by default");
        let c = ChassisConfig::from_ovs(&ids, &[], None, Some("other"), "h").unwrap();
        assert_eq!(c.chassis_id, "other");
        assert_eq!(c.encap_ips, split_set("192.0.2.1"));
    }

    #[test]
    fn missing_pieces_are_named() {
        assert_eq!(ChassisConfig::from_ovs(&ids(&[]), &[], None, None, "h"), Err(ConfigError::NoSystemId));
        let only_id = ids(&[("system-id", "x"), ("ovn-encap-type", "geneve")]);
        assert_eq!(ChassisConfig::from_ovs(&only_id, &[], None, None, "h"), Err(ConfigError::NoEncap));
    }

    #[test]
    fn probe_interval_has_ovs_floor() {
        let ids = ids(&[
            ("system-id", "x"),
            ("ovn-encap-type", "geneve"),
            ("ovn-encap-ip", "1.1.1.1"),
            ("ovn-remote-probe-interval", "10"),
        ]);
        assert_eq!(ChassisConfig::from_ovs(&ids, &[], None, None, "h").unwrap().sb_probe_interval_ms, 1000);
    }
}
